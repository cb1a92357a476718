"""The corpus's sounds: speech rendered by espeak-ng or Piper and trimmed to its sound, padded
and levelled; pink, brown and babble noise mixed in at a given SNR; synthetic coughs and clicks.
Everything but Piper's synthesis is seeded by the clip's id.
"""

from __future__ import annotations

import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from pipelines import piper_voice_path
from shared.audio import resample
from simulator.audio import read_wav

RATE = 16000
LEAD_S = 0.5
TAIL_S = 1.5
SPEECH_RMS_DBFS = -24.0
FLOOR_DBFS = -80.0
TRIM_DB = 45.0
NOISE_SECONDS = 40.0

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
