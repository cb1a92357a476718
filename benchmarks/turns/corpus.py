"""The turn-taking corpus: its texts and sounds, how each clip is labelled, and its generation
(`benchmarks/turn_corpus.py` describes it and generates it from the command line).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.turns.sounds import (
    LEAD_S,
    RATE,
    SPEECH_RMS_DBFS,
    TAIL_S,
    Voices,
    assemble,
    babble,
    burst,
    mix,
    sox_noise,
    to_int16,
)
from simulator.audio import write_wav

ROOT = Path(__file__).resolve().parents[2]

CORPUS_VERSION = 1
GAPS_MS = (250, 400, 600)
SNRS_DB = (20, 10, 5)
NOISES = ("pink", "brown", "babble")
DEFAULT_OUT = ROOT / ".cache/turn_corpus"

PAUSE_TEXTS = (
    ("I would like to book a table", "for two people tomorrow evening"),
    ("My account number is", "four seven two nine one"),
    ("Can you tell me", "when the pharmacy closes today"),
    ("I need to change my delivery address to", "twelve Baker Street"),
    ("The problem started", "after I installed the last update"),
    ("Could you send the invoice to", "my work email instead"),
)
PLAIN_TEXTS = (
    "What time does the store open on Saturday",
    "I want to cancel my subscription please",
    "Can you check the status of my order",
    "My flight was delayed and I missed the connection",
    "Please transfer me to the billing department",
    "Is there a table free for four people tonight",
    "How much does the premium plan cost per month",
    "I think I left my umbrella in the taxi this morning",
)
# (label, espeak-ng spelling, Piper spelling): the spellings each engine says most naturally.
BACKCHANNEL_WORDS = (
    ("mm-hmm", "mm-hmm", "Mm-hmm!"),
    ("yeah", "yeah", "yeah"),
    ("uh-huh", "uh-huh", "uh huh"),
    ("okay", "okay", "okay"),
    ("right", "right", "right."),
)
# (kind, duration ms, variant): synthetic non-speech sounds in the backchannel category.
BURSTS = (
    ("cough", 150, "low"),
    ("cough", 200, "mid"),
    ("cough", 250, "low"),
    ("cough", 300, "mid"),
    ("cough", 300, "double"),
    ("click", 10, "single"),
    ("click", 130, "double"),
    ("click", 200, "triple"),
)


@dataclass
class Clip:
    """One manifest entry."""

    id: str
    file: str
    engine: str
    voice: str
    category: str
    kind: str
    text: str
    snr_db: float | None
    noise: str | None
    sample_rate: int
    duration_s: float
    regions: list[list[float]]
    gap_ms: int | None = None
    source: str | None = None


class Writer:
    """Writes clips and collects their manifest entries."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.clips: list[Clip] = []

    def add(self, audio: np.ndarray, regions: list[list[float]], **fields: Any) -> Clip:
        clip = Clip(
            file=f"{fields['id']}.wav",
            sample_rate=RATE,
            duration_s=round(len(audio) / RATE, 4),
            regions=regions,
            **fields,
        )
        write_wav(self.out / clip.file, to_int16(audio), RATE)
        self.clips.append(clip)
        return clip


def up_to_date(out: Path) -> bool:
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return False
    data = json.loads(manifest.read_text())
    if data.get("version") != CORPUS_VERSION:
        return False
    return all((out / c["file"]).is_file() for c in data["clips"])


def generate(out: Path) -> dict[str, Any]:
    """Render every clip into `out` and write its manifest; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.wav"):
        old.unlink()
    writer = Writer(out)
    speech: list[tuple[Clip, np.ndarray, int]] = []  # clean clip, samples, noise rotation
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        voices = Voices(Path(tmp))
        engines = (("espeak", "en-us"), ("piper", "en_US-joe-medium"))
        for e, (engine, voice) in enumerate(engines):
            for n, (first, second) in enumerate(PAUSE_TEXTS, 1):
                parts = [voices.render(engine, first, voice), voices.render(engine, second, voice)]
                for gap in GAPS_MS:
                    cid = f"pause-{engine}-{n:02d}-g{gap}"
                    audio, regions = assemble(parts, gap / 1000, cid)
                    text = f"{first} ... {second}"
                    fields = dict(id=cid, engine=engine, voice=voice, category="pause")
                    clip = writer.add(
                        audio, regions, **fields, kind="pause", text=text, snr_db=None,
                        noise=None, gap_ms=gap,
                    )  # fmt: skip
                    speech.append((clip, audio, n + e))
            for n, text in enumerate(PLAIN_TEXTS, 1):
                cid = f"plain-{engine}-{n:02d}"
                audio, regions = assemble([voices.render(engine, text, voice)], 0.0, cid)
                fields = dict(id=cid, engine=engine, voice=voice, category="plain", kind="plain")
                clip = writer.add(audio, regions, **fields, text=text, snr_db=None, noise=None)
                speech.append((clip, audio, n + e))
        word_voices = (("espeak", "en-us"), ("espeak", "en-us+f3"), ("piper", "en_US-joe-medium"))
        for engine, voice in word_voices:
            tag = "piper" if engine == "piper" else f"espeak-{voice.replace('+', '-')}"
            for label, espeak_spelling, piper_spelling in BACKCHANNEL_WORDS:
                spelling = piper_spelling if engine == "piper" else espeak_spelling
                cid = f"backchannel-{tag}-{label}"
                audio, regions = assemble([voices.render(engine, spelling, voice)], 0.0, cid)
                writer.add(
                    audio, regions, id=cid, engine=engine, voice=voice, category="backchannel",
                    kind="word", text=label, snr_db=None, noise=None,
                )  # fmt: skip
        for kind, ms, variant in BURSTS:
            cid = f"backchannel-{kind}-{variant}-{ms}ms"
            audio, regions = assemble([burst(kind, ms, variant, cid)], 0.0, cid)
            writer.add(
                audio, regions, id=cid, engine="synthetic", voice=variant,
                category="backchannel", kind=kind, text=f"<{kind} {ms} ms>", snr_db=None,
                noise=None,
            )  # fmt: skip
        noises = {
            "pink": sox_noise("pinknoise", Path(tmp) / "pink.wav"),
            "brown": sox_noise("brownnoise", Path(tmp) / "brown.wav"),
            "babble": babble(voices),
        }
    for clean, audio, rotation in speech:
        for j, snr in enumerate(SNRS_DB):
            kind = NOISES[(rotation + j) % len(NOISES)]
            cid = f"{clean.id}-{kind}-{snr}db"
            noisy = mix(audio, clean.regions, noises[kind], snr, cid)
            entry = {k: v for k, v in asdict(clean).items() if k not in ("file", "duration_s")}
            entry.update(id=cid, snr_db=float(snr), noise=kind, source=clean.id)
            del entry["regions"], entry["sample_rate"]
            writer.add(noisy, clean.regions, **entry)
    counts = Counter(
        f"{c.category}/{'clean' if c.snr_db is None else 'noisy'}" for c in writer.clips
    )
    manifest = {
        "version": CORPUS_VERSION,
        "sample_rate": RATE,
        "lead_s": LEAD_S,
        "tail_s": TAIL_S,
        "speech_rms_dbfs": SPEECH_RMS_DBFS,
        "counts": dict(sorted(counts.items())),
        "clips": [asdict(c) for c in writer.clips],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def ensure_corpus(out: Path = DEFAULT_OUT, force: bool = False) -> dict[str, Any]:
    """The corpus manifest, generating the corpus first unless it is up to date."""
    if force or not up_to_date(out):
        return generate(out)
    return json.loads((out / "manifest.json").read_text())
