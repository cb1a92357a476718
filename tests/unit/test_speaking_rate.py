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
