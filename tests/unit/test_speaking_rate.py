"""The one-pass speaking-rate estimate equals the framework's, and reaches the synchronizer."""

from __future__ import annotations

import numpy as np
import pytest
from livekit.agents.voice.transcription._speaking_rate import (
    SpeakingRateDetector,
    SpeakingRateStream,
)
from livekit.agents.voice.transcription.synchronizer import TranscriptSynchronizer

from livekit_patches.speaking_rate import (
    SlidingFlux,
    VectorizedSpeakingRateDetector,
    VectorizedSpeakingRateStream,
    spectral_flux,
    vectorize_speaking_rate,
)
from simulator.speech import render_speech
from tests.unit.test_playout import room_audio_output


def stock_flux(audio: np.ndarray, rate: int) -> float:
    # the framework's own computation (a method that uses nothing of the stream but `self`)
    return SpeakingRateStream._spectral_flux(
        SpeakingRateStream.__new__(SpeakingRateStream), audio, rate
    )


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_the_flux_is_the_frameworks(rate: int) -> None:
    rng = np.random.default_rng(7)
    speech = render_speech("The table is booked for seven tonight.", rate=rate)
    windows = [
        rng.standard_normal(rate).astype(np.float32) * 0.1,  # one second of noise
        (speech[:rate] / 32768).astype(np.float32),  # one second of speech
        np.zeros(rate, np.float32),
        (speech[: rate // 2] / 32768).astype(np.float32),  # a short last window
    ]
    for audio in windows:
        assert spectral_flux(audio, rate) == pytest.approx(stock_flux(audio, rate), rel=1e-6)
    assert spectral_flux(np.zeros(10, np.float32), rate) == 0.0  # shorter than one frame


def test_a_sliding_window_transforms_only_the_frames_that_entered(monkeypatch) -> None:
    """The stream's one-second window moves on 100 ms at a time in one reused buffer: each
    estimate equals the whole computation's, transforming 8 frames instead of 79; a window
    that did not slide (a jump, another length) is computed whole."""
    rate, step = 24000, 2400
    speech = (
        render_speech(
            "The table is booked for seven tonight, by the window, for four people.", rate=rate
        )
        / 32768
    ).astype(np.float32)
    transformed: list[int] = []
    rfft = np.fft.rfft

    def counting(a, *args, **kwargs):
        transformed.append(len(a))
        return rfft(a, *args, **kwargs)

    sliding = SlidingFlux()
    buffer = np.empty(rate, np.float32)
    estimates = []
    for start in range(0, len(speech) - rate, step):
        buffer[:] = speech[start : start + rate]
        monkeypatch.setattr(np.fft, "rfft", counting)
        estimates.append(sliding(buffer, rate, step))
        monkeypatch.setattr(np.fft, "rfft", rfft)
        assert estimates[-1] == pytest.approx(spectral_flux(buffer, rate), rel=1e-9)
    assert len(estimates) >= 10
    assert transformed == [79] + [8] * (len(estimates) - 1)

    transformed.clear()
    jumped, short = speech[rate // 3 : rate // 3 + rate], speech[: rate // 2]
    expected = [spectral_flux(jumped, rate), spectral_flux(short, rate)]
    monkeypatch.setattr(np.fft, "rfft", counting)
    got = [sliding(jumped, rate, step), sliding(short, rate, step)]
    assert got == pytest.approx(expected, rel=1e-9)
    assert transformed == [79, 39]
    assert sliding(np.zeros(10, np.float32), rate, step) == 0.0


async def test_the_synchronizer_gets_the_estimator_with_the_same_options() -> None:
    room = room_audio_output()
    sync = TranscriptSynchronizer(next_in_chain_audio=room, next_in_chain_text=None)
    stock = sync._opts.speaking_rate_detector
    assert type(stock) is SpeakingRateDetector

    assert vectorize_speaking_rate(sync.audio_output)
    detector = sync._opts.speaking_rate_detector
    assert isinstance(detector, VectorizedSpeakingRateDetector)
    assert detector._opts == stock._opts
    sync.rotate_segment()  # the next reply's segment
    await sync.barrier()
    assert isinstance(sync._impl._audio_data.sr_stream, VectorizedSpeakingRateStream)

    assert not vectorize_speaking_rate(room)  # no synchronizer behind the room output
    await sync.aclose()
    await room.aclose()
