"""The transcript synchronizer's speaking-rate estimate, computed in one numpy pass.

livekit-agents paces the agent's transcript against the audio the caller hears (so that an
interrupted reply is cut where the caller stopped hearing it) with a speaking-rate estimate:
every 100 ms, the spectral flux of the last second of the agent's audio. Its STFT loops in
Python over ~80 frames of 25 ms, one `rfft` each, and was the largest Python cost of a call in
the worker (about a quarter of the worker's busy Python samples at 4 calls,
benchmarks/RESULTS.md). The same figure comes out of one strided `rfft` over all frames.
`vectorize_speaking_rate` puts that estimator into a session's synchronizer.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from livekit.agents.voice import io
from livekit.agents.voice.transcription._speaking_rate import (
    SpeakingRateDetector,
    SpeakingRateStream,
)
from livekit.agents.voice.transcription.synchronizer import _SyncedAudioOutput

from . import WrittenFor

logger = logging.getLogger("livekit_patches.speaking_rate")

WRITTEN_FOR = WrittenFor("livekit-agents", "1.8.9")
"""The release whose `SpeakingRateDetector` and transcript synchroniser this module follows."""

FRAME_S = 0.025
"""The framework's STFT frame (25 ms, 50% overlap)."""


def spectral_flux(audio: np.ndarray, sample_rate: int) -> float:
    """Mean L1 change of the scaled STFT magnitude between consecutive 25 ms frames: the
    framework's `SpeakingRateStream._spectral_flux`, without its per-frame Python loops."""
    frame_length = int(sample_rate * FRAME_S)
    hop = frame_length // 2
    if frame_length == 0 or len(audio) < frame_length:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame_length)[::hop]
    if len(frames) < 2:
        return 0.0
    window, scale = _window(frame_length)
    magnitudes = np.abs(np.fft.rfft(frames * window, axis=1)) * scale
    return float(np.mean(np.sum(np.abs(np.diff(magnitudes, axis=0)), axis=1)))


@functools.cache
def _window(frame_length: int) -> tuple[np.ndarray, float]:
    """The Hann window of a frame and its energy scale (one frame length per call)."""
    window = np.hanning(frame_length)
    window.flags.writeable = False
    return window, float(1.0 / np.sqrt(np.sum(window**2)))


class VectorizedSpeakingRateStream(SpeakingRateStream):
    def _spectral_flux(self, audio: np.ndarray, sample_rate: int) -> float:
        return spectral_flux(audio, sample_rate)


class VectorizedSpeakingRateDetector(SpeakingRateDetector):
    def stream(self) -> SpeakingRateStream:
        return VectorizedSpeakingRateStream(self, self._opts)


def vectorize_speaking_rate(output: io.AudioOutput | None) -> bool:
    """Give the transcript synchronizer in a session's audio output chain the one-pass
    estimator, with the same options, for its next segments; False if there is none (or on
    another livekit-agents release)."""
    if not WRITTEN_FOR.applies("the one-pass speaking-rate estimate"):
        return False
    while output is not None:
        if isinstance(output, _SyncedAudioOutput):
            options = output._synchronizer._opts
            stock = options.speaking_rate_detector._opts
            options.speaking_rate_detector = VectorizedSpeakingRateDetector(
                window_size=stock.window_duration,
                step_size=stock.step_size,
                sample_rate=stock.sample_rate,
            )
            return True
        output = output.next_in_chain
    logger.debug("no transcript synchronizer in the audio output chain")
    return False
