"""Labelled caller utterances for the offline turn-taking benchmark (`turn_taking.py`).

    .venv/bin/python benchmarks/turn_corpus.py [--out DIR] [--force]

Every clip is a 16 kHz mono 16-bit WAV: 16 kHz is the rate both VADs analyse at (in a room they
get 24 kHz frames and resample them), so the corpus measures the detectors, not a resampler.
Speech comes from two TTS engines: espeak-ng (the simulated caller's voice) and Piper
(en_US-joe-medium, the packaged voice). Categories:

- `pause`: one sentence in two parts with 250, 400 or 600 ms of silence between them. One turn:
  a VAD that ends speech inside the pause splits it.
- `plain`: one sentence without internal pauses.
- `backchannel`: "mm-hmm", "yeah", "uh-huh", "okay", "right", and synthetic coughs and clicks.
  None of them should interrupt an agent.

`pause` and `plain` clips also come mixed with pink, brown or babble noise (babble: several
quiet espeak-ng talkers summed) at 20, 10 and 5 dB SNR, each clean clip once per SNR; the noise
kind rotates with the text and engine, so the three pause lengths of a text share the same
noise at each SNR and every pause length sees every noise/SNR pair equally often. The clean
versions are kept. SNR is speech power over the speech regions against noise
power over the whole clip. Every clip has 0.5 s of silence before the speech and 1.5 s after
it (all clips sit on a -80 dBFS white floor, never on digital silence).

Ground truth, per clip in `manifest.json`: `regions`, the speech spans in seconds. A region runs
from the first to the last 5 ms frame of a rendered part within 45 dB of its loudest frame, so
the silence between regions is exactly the inserted pause. Generation is skipped when the
manifest already has this `CORPUS_VERSION` and all its files; `--force` regenerates (Piper's
synthesis is stochastic, so its clips then differ slightly; everything else is seeded).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines import piper_voice_path  # noqa: E402
from shared.audio import resample  # noqa: E402
from simulator.audio import read_wav, write_wav  # noqa: E402

CORPUS_VERSION = 1
RATE = 16000
LEAD_S = 0.5
TAIL_S = 1.5
SPEECH_RMS_DBFS = -24.0
FLOOR_DBFS = -80.0
TRIM_DB = 45.0
GAPS_MS = (250, 400, 600)
SNRS_DB = (20, 10, 5)
NOISES = ("pink", "brown", "babble")
NOISE_SECONDS = 40.0
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
BABBLE_TEXTS = (
    "The weather was nice so we walked along the river for an hour.",
    "She said the meeting moved to Thursday because of the holiday.",
    "We should paint the kitchen before the new furniture arrives.",
    "He ordered the soup and a salad and then changed his mind.",
    "The train was late again and nobody told us why.",
    "I have never seen so many people at the market on a Sunday.",
    "They are planning a trip to the mountains next summer.",
    "Could you pass me the bread and the butter please.",
)
BABBLE_TALKERS = (
    ("en-us", 160),
    ("en-gb", 175),
    ("en-us+f3", 150),
    ("en-gb-x-rp+f4", 170),
    ("en-us+m3", 185),
    ("en-029", 165),
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


class Voices:
    """Renders text with espeak-ng or Piper as 16 kHz int16 trimmed to its speech."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._piper: Any = None
        self._count = 0

    def espeak(self, text: str, voice: str = "en-us", wpm: int = 165) -> np.ndarray:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
        self._count += 1
        path = self.workdir / f"espeak-{self._count}.wav"
        subprocess.run(
            [exe, "-v", voice, "-s", str(wpm), "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        samples = read_wav(path, RATE)
        path.unlink()
        return samples

    def piper(self, text: str) -> np.ndarray:
        if self._piper is None:
            from piper import PiperVoice

            self._piper = PiperVoice.load(str(piper_voice_path()))
        rate = self._piper.config.sample_rate
        chunks = [
            np.frombuffer(c.audio_int16_bytes, np.int16) for c in self._piper.synthesize(text)
        ]
        return resample(np.concatenate(chunks), rate, RATE)

    def render(self, engine: str, text: str, voice: str) -> np.ndarray:
        raw = self.piper(text) if engine == "piper" else self.espeak(text, voice)
        return trim(raw)


def trim(samples: np.ndarray, step_ms: int = 5) -> np.ndarray:
    """The span from the first to the last frame within `TRIM_DB` of the loudest frame."""
    step = RATE * step_ms // 1000
    n = len(samples) // step
    frames = samples[: n * step].astype(np.float64).reshape(n, step)
    level = 10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-9)
    loud = np.nonzero(level > level.max() - TRIM_DB)[0]
    return samples[loud[0] * step : (loud[-1] + 1) * step]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64))))) if len(samples) else 0.0


def rng_for(key: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(key.encode()))


def assemble(
    parts: list[np.ndarray], gap_s: float, key: str
) -> tuple[np.ndarray, list[list[float]]]:
    """Parts joined by `gap_s` of silence, padded, levelled; returns samples and regions."""
    lead, tail, gap = (int(round(s * RATE)) for s in (LEAD_S, TAIL_S, gap_s))
    pieces: list[np.ndarray] = [np.zeros(lead)]
    regions: list[list[float]] = []
    cursor = lead
    for i, part in enumerate(parts):
        if i:
            pieces.append(np.zeros(gap))
            cursor += gap
        pieces.append(part.astype(np.float64))
        regions.append([round(cursor / RATE, 4), round((cursor + len(part)) / RATE, 4)])
        cursor += len(part)
    pieces.append(np.zeros(tail))
    audio = np.concatenate(pieces)
    speech = np.concatenate([p.astype(np.float64) for p in parts])
    audio *= 32768 * 10 ** (SPEECH_RMS_DBFS / 20) / max(rms(speech), 1e-9)
    audio += rng_for(key).standard_normal(len(audio)) * 32768 * 10 ** (FLOOR_DBFS / 20)
    return audio, regions


def to_int16(audio: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 32000:
        audio = audio * (32000 / peak)
    return np.round(audio).astype(np.int16)


def speech_power(audio: np.ndarray, regions: list[list[float]]) -> float:
    spans = [audio[int(a * RATE) : int(b * RATE)] for a, b in regions]
    return float(np.mean(np.square(np.concatenate(spans).astype(np.float64))))


def mix(
    clean: np.ndarray, regions: list[list[float]], noise: np.ndarray, snr_db: float, key: str
) -> np.ndarray:
    """`clean` plus a random stretch of `noise` scaled to `snr_db` against the speech."""
    start = int(rng_for(key).integers(0, len(noise) - len(clean)))
    segment = noise[start : start + len(clean)].astype(np.float64)
    gain = np.sqrt(
        speech_power(clean, regions) / (np.mean(np.square(segment)) * 10 ** (snr_db / 10))
    )
    return clean.astype(np.float64) + gain * segment


def sox_noise(kind: str, path: Path) -> np.ndarray:
    """`kind` noise (pinknoise, brownnoise) from sox's synth."""
    exe = shutil.which("sox")
    if exe is None:
        raise RuntimeError("sox is not installed (apt-get install sox)")
    subprocess.run(
        [exe, "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(path), "synth",
         str(NOISE_SECONDS), kind, "vol", "0.5"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return read_wav(path, RATE).astype(np.float64)


def babble(voices: Voices) -> np.ndarray:
    """Several espeak-ng talkers at equal level, each looping different sentences."""
    total = int(NOISE_SECONDS * RATE)
    mixture = np.zeros(total)
    for i, (voice, wpm) in enumerate(BABBLE_TALKERS):
        rng = rng_for(f"babble-{voice}")
        stream: list[np.ndarray] = []
        length = 0
        while length < total:
            text = BABBLE_TEXTS[(i + len(stream)) % len(BABBLE_TEXTS)]
            sentence = voices.espeak(text, voice, wpm).astype(np.float64)
            pause = np.zeros(int(rng.uniform(0.05, 0.3) * RATE))
            stream += [sentence, pause]
            length += len(sentence) + len(pause)
        talker = np.roll(np.concatenate(stream)[:total], int(rng.integers(0, total)))
        mixture += talker / max(rms(talker), 1e-9)
    return mixture


def burst(kind: str, duration_ms: int, variant: str, key: str) -> np.ndarray:
    """A cough (shaped noise, fast attack, exponential decay) or a train of clicks."""
    rng = rng_for(key)
    n = int(duration_ms * RATE / 1000)
    t = np.arange(n) / RATE
    if kind == "cough":
        noise = rng.standard_normal(n)
        spectrum = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(n, 1 / RATE)
        low, high = (150, 1500) if variant == "low" else (300, 4000)
        spectrum *= (freqs > low) & (freqs < high)
        shaped = np.fft.irfft(spectrum, n)
        attack = np.minimum(t / 0.008, 1.0)
        decay = np.exp(-t / (duration_ms / 1000 / 4))
        envelope = attack * decay
        if variant == "double":
            half = n // 2
            envelope = np.concatenate([envelope[::2][:half], envelope[::2][: n - half] * 0.7])
        wave = shaped * envelope
        return wave / np.max(np.abs(wave)) * 32768 * 10 ** (-6 / 20)
    count = {"single": 1, "double": 2, "triple": 3}[variant]
    click_n = int(0.008 * RATE)
    ct = np.arange(click_n) / RATE
    click = np.sin(2 * np.pi * 2500 * ct) * np.exp(-ct / 0.0015)
    out = np.zeros(n)
    for k in range(count):
        at = 0 if count == 1 else int(k * (n - click_n) / (count - 1))
        out[at : at + click_n] += click[: n - at]
    return out / np.max(np.abs(out)) * 32768 * 10 ** (-10 / 20)


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
            fields = {k: v for k, v in asdict(clean).items() if k not in ("file", "duration_s")}
            fields.update(id=cid, snr_db=float(snr), noise=kind, source=clean.id)
            del fields["regions"], fields["sample_rate"]
            writer.add(noisy, clean.regions, **fields)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args()
    if not args.force and up_to_date(args.out):
        print(f"corpus v{CORPUS_VERSION} up to date in {args.out}")
        return
    start = time.perf_counter()
    manifest = ensure_corpus(args.out, force=True)
    elapsed = time.perf_counter() - start
    print(f"wrote {len(manifest['clips'])} clips to {args.out} in {elapsed:.1f} s")
    for name, count in manifest["counts"].items():
        print(f"  {name:22} {count:4d}")


if __name__ == "__main__":
    main()
