"""Audio helpers for the caller: WAV I/O, resampling, and energy-based speech segments."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.audio import resample

CALLER_RATE = 48000
FRAME_MS = 10


@dataclass(frozen=True)
class Segment:
    """A span of speech, in seconds from the start of the audio."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def read_wav(path: str | Path, rate: int = CALLER_RATE) -> np.ndarray:
    """Mono int16 samples of a 16-bit PCM WAV file, resampled to `rate`."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels, src_rate = w.getnchannels(), w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return resample(samples, src_rate, rate)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype(np.int16).tobytes())


def frame_rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dBFS (-120 for digital silence)."""
    if not len(samples):
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return float(20 * np.log10(max(rms / 32768.0, 1e-6)))


def speech_segments(
    samples: np.ndarray,
    rate: int,
    *,
    threshold_dbfs: float = -45.0,
    min_gap: float = 0.35,
    min_speech: float = 0.05,
) -> list[Segment]:
    """Spans whose 10 ms frames are louder than `threshold_dbfs`, merging gaps < `min_gap`.

    Meant for clean signals (TTS output, synthetic caller speech), not noisy microphones.
    """
    step = rate * FRAME_MS // 1000
    n = len(samples) // step
    if n == 0:
        return []
    frames = samples[: n * step].astype(np.float64).reshape(n, step)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    loud = 20 * np.log10(np.maximum(rms / 32768.0, 1e-6)) > threshold_dbfs
    segments: list[Segment] = []
    start: int | None = None
    last_loud = -1
    for i, is_loud in enumerate(loud):
        if is_loud:
            if start is None:
                start = i
            elif (i - last_loud - 1) * FRAME_MS / 1000 >= min_gap:
                segments.append(Segment(start * step / rate, (last_loud + 1) * step / rate))
                start = i
            last_loud = i
    if start is not None:
        segments.append(Segment(start * step / rate, (last_loud + 1) * step / rate))
    return [s for s in segments if s.duration >= min_speech]
