"""Telephone audio for the fake phone: speech to mu-law frames, and telling speech from silence
in what the earpiece played."""

from __future__ import annotations

import numpy as np

from fake_providers.common import ESPEAK_RATE, synthesize
from fake_providers.twilio.protocol import FRAME_BYTES, SAMPLE_RATE, ULAW_SILENCE
from shared.audio import resample, ulaw_decode, ulaw_encode

SPEECH_RMS = 200.0
"""A 20 ms frame louder than this (int16 RMS, about -44 dBFS) is sound. Mu-law silence decodes
to 0 and a line's noise to a few tens; espeak speech is in the thousands."""

SILENT_FRAME = bytes([ULAW_SILENCE]) * FRAME_BYTES


def speech(text: str, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """A caller's words for `FakePhone.say`: espeak-ng int16 speech and its sample rate."""
    return synthesize(text, voice), ESPEAK_RATE


def to_ulaw(pcm: np.ndarray, rate: int) -> bytes:
    """Mono int16 speech at `rate` as 8 kHz G.711 mu-law, what a phone line carries."""
    samples = np.asarray(pcm)
    if samples.dtype != np.int16:
        raise ValueError(f"speech must be int16 samples, got {samples.dtype}")
    return ulaw_encode(resample(samples.reshape(-1), rate, SAMPLE_RATE))


def ulaw_frames(ulaw: bytes) -> list[bytes]:
    """`ulaw` cut into 20 ms frames, the last one padded with silence."""
    frames = [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + SILENT_FRAME[len(frames[-1]) :]
    return frames


def frame_rms(frame: bytes) -> float:
    """The loudness of one mu-law frame (int16 RMS of its decoded samples)."""
    if not frame:
        return 0.0
    samples = ulaw_decode(frame).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


def audible(rms: float) -> bool:
    return rms >= SPEECH_RMS
