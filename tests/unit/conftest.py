"""Unit-test fixtures: the heavy engines loaded once, and speech signals with known bounds.

Caller speech is rendered by espeak-ng (simulator.speech), trimmed to its audible span with
`speech_segments`, and padded with digital silence, so the true speech start and end of every
signal are known from construction.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from livekit import rtc
from livekit.agents.utils import http_context

from pipelines.factory import Engines
from pipelines.settings import EngineSettings
from pipelines.stt import WhisperModelHandle
from pipelines.tts import PiperVoiceHandle
from simulator.audio import speech_segments
from simulator.speech import render_speech

SENTENCE = "I would like to check the weather for tomorrow"


@dataclass(frozen=True)
class SpeechSignal:
    """int16 mono samples; `spans` are the (start, end) seconds of each spoken piece."""

    samples: np.ndarray
    rate: int
    spans: tuple[tuple[float, float], ...]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    @property
    def speech_start(self) -> float:
        return self.spans[0][0]

    @property
    def speech_end(self) -> float:
        return self.spans[-1][1]

    @property
    def speech_duration(self) -> float:
        return self.speech_end - self.speech_start


def trimmed_speech(text: str, rate: int) -> np.ndarray:
    """espeak-ng speech of `text` cut to its audible span (no leading/trailing silence)."""
    samples = render_speech(text, rate=rate)
    segments = speech_segments(samples, rate, min_gap=10.0)
    assert len(segments) == 1, f"espeak-ng rendered no speech for {text!r}"
    return samples[round(segments[0].start * rate) : round(segments[0].end * rate)]


def compose(pieces: Sequence[str | float], rate: int) -> SpeechSignal:
    """Concatenate silences (float seconds) and spoken phrases (str) into one signal."""
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    n = 0
    for piece in pieces:
        if isinstance(piece, str):
            part = trimmed_speech(piece, rate)
            spans.append((n / rate, (n + len(part)) / rate))
        else:
            part = np.zeros(round(piece * rate), dtype=np.int16)
        parts.append(part)
        n += len(part)
    return SpeechSignal(np.concatenate(parts), rate, tuple(spans))


def known_signal(
    text: str = SENTENCE, rate: int = 24000, lead: float = 0.5, trail: float = 1.0
) -> SpeechSignal:
    """`lead` s of silence, `text` spoken by espeak-ng, `trail` s of silence."""
    signal = compose([lead, text, trail], rate)
    # The bounds from construction agree with an independent energy segmentation.
    found = speech_segments(signal.samples, rate, min_gap=10.0)
    assert len(found) == 1
    assert abs(found[0].start - signal.speech_start) <= 0.011
    assert abs(found[0].end - signal.speech_end) <= 0.011
    return signal


def to_frame(samples: np.ndarray, rate: int, channels: int = 1) -> rtc.AudioFrame:
    samples = np.ascontiguousarray(samples, dtype=np.int16)
    return rtc.AudioFrame(samples.tobytes(), rate, channels, len(samples) // channels)


def frames_to_samples(frames: Sequence[rtc.AudioFrame]) -> np.ndarray:
    if not frames:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_recall(expected: str, heard: str) -> float:
    """Share of the expected words that appear in `heard` (case and punctuation ignored)."""
    want = words(expected)
    got = set(words(heard))
    return sum(w in got for w in want) / len(want)


class AudioTools:
    """Plain helpers handed to tests as a fixture (tests/unit is not an importable package)."""

    to_frame = staticmethod(to_frame)
    frames_to_samples = staticmethod(frames_to_samples)
    words = staticmethod(words)
    word_recall = staticmethod(word_recall)
    trimmed_speech = staticmethod(trimmed_speech)


@pytest.fixture(scope="session")
def audio_tools() -> AudioTools:
    return AudioTools()


@pytest.fixture(scope="session")
def engines() -> Engines:
    """Whisper and Piper loaded once for the whole unit session (takes a few seconds)."""
    return Engines(EngineSettings())


@pytest.fixture(scope="session")
def whisper_handle(engines: Engines) -> WhisperModelHandle:
    return engines.whisper


@pytest.fixture(scope="session")
def piper_handle(engines: Engines) -> PiperVoiceHandle:
    return engines.piper


@pytest.fixture(scope="session")
def signal() -> Callable[..., SpeechSignal]:
    """Factory: `signal(text=..., rate=24000, lead=0.5, trail=1.0)` -> SpeechSignal."""
    return known_signal


@pytest.fixture(scope="session")
def composer() -> Callable[[Sequence[str | float], int], SpeechSignal]:
    """Factory: `composer([0.5, "phrase", 0.15, "phrase", 1.0], rate)` -> SpeechSignal."""
    return compose


@pytest.fixture
async def http() -> AsyncIterator[None]:
    """The aiohttp session livekit plugins use inside a job."""
    http_context._new_session_ctx()
    yield
    await http_context._close_http_ctx()
