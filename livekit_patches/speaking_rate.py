"""The transcript synchronizer's speaking-rate estimate, computed in one numpy pass.

livekit-agents paces the agent's transcript against the audio the caller hears (so that an
interrupted reply is cut where the caller stopped hearing it) with a speaking-rate estimate:
every 100 ms, the spectral flux of the last second of the agent's audio. Its STFT loops in
Python over ~80 frames of 25 ms, one `rfft` each, and was the largest Python cost of a call in
the worker (about a quarter of the worker's busy Python samples at 4 calls,
benchmarks/RESULTS.md). The same figure comes out of one strided `rfft` over all frames, and
since each window is the last one moved on by 100 ms, of transforming only the 8 frames that
entered it (`SlidingFlux`). `vectorize_speaking_rate` puts that estimator into a session's
synchronizer.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from livekit.agents.voice import io
from livekit.agents.voice.transcription._speaking_rate import (
    SpeakingRateDetector,
    SpeakingRateStream,
    _SpeakingRateDetectionOptions,
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
    frames = _stft_frames(audio, sample_rate)
    if len(frames) < 2:
        return 0.0
    return float(np.mean(_changes(_magnitudes(frames))))


def _stft_frames(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The 25 ms frames of `audio` at 12.5 ms hops, as a view (none if shorter than one)."""
    frame_length = int(sample_rate * FRAME_S)
    if frame_length == 0 or len(audio) < frame_length:
        return audio[:0]
    return np.lib.stride_tricks.sliding_window_view(audio, frame_length)[:: frame_length // 2]


def _magnitudes(frames: np.ndarray) -> np.ndarray:
    window, scale = _window(frames.shape[1])
    return np.abs(np.fft.rfft(frames * window, axis=1)) * scale


def _changes(magnitudes: np.ndarray) -> np.ndarray:
    """Per pair of consecutive frames, the summed magnitude change: the flux's terms."""
    return np.sum(np.abs(np.diff(magnitudes, axis=0)), axis=1)


@functools.cache
def _window(frame_length: int) -> tuple[np.ndarray, float]:
    """The Hann window of a frame and its energy scale (one frame length per call)."""
    window = np.hanning(frame_length)
    window.flags.writeable = False
    return window, float(1.0 / np.sqrt(np.sum(window**2)))


class SlidingFlux:
    """`spectral_flux` of a window that slides: when a window is the previous one moved on by
    `step` samples, a whole number of STFT hops (100 ms: 8 hops of 12.5 ms), only the frames
    that entered it are transformed (8 of 79 at one second). Any other window is computed
    whole."""

    def __init__(self) -> None:
        self._audio: np.ndarray | None = None
        self._magnitudes = np.zeros((0, 0))
        self._changes = np.zeros(0)
        """Per pair of consecutive frames, the summed magnitude change: the flux's terms."""

    def __call__(self, audio: np.ndarray, sample_rate: int, step: int) -> float:
        frames = _stft_frames(audio, sample_rate)
        if len(frames) < 2:
            self._audio = None
            return 0.0
        hop = frames.shape[1] // 2
        moved = step // hop if step % hop == 0 else 0
        before = self._audio
        if (
            before is not None
            and 0 < moved < len(frames) - 1
            and len(before) == len(audio)
            and self._magnitudes.shape[0] == len(frames)
            and np.array_equal(audio[: len(audio) - step], before[step:])
        ):
            kept = len(frames) - moved
            magnitudes = np.concatenate([self._magnitudes[moved:], _magnitudes(frames[kept:])])
            changes = np.concatenate([self._changes[moved:], _changes(magnitudes[kept - 1 :])])
        else:
            magnitudes = _magnitudes(frames)
            changes = _changes(magnitudes)
        self._audio = audio.copy()
        self._magnitudes, self._changes = magnitudes, changes
        return float(np.mean(changes))


class VectorizedSpeakingRateStream(SpeakingRateStream):
    def __init__(self, detector: SpeakingRateDetector, opts: _SpeakingRateDetectionOptions) -> None:
        self._sliding = SlidingFlux()  # before the stream's task can run
        super().__init__(detector, opts)

    def _spectral_flux(self, audio: np.ndarray, sample_rate: int) -> float:
        return self._sliding(audio, sample_rate, self._step_size_samples)


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
