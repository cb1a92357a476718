"""Semantic end of turn (`pipelines.smart_turn`): the packaged Smart Turn model on real speech
(espeak-ng), and the stream livekit-agents feeds and asks."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agent.contract import AgentConfig, TurnDetection
from pipelines.factory import build_vad, turn_hold
from pipelines.smart_turn import SAMPLE_RATE, WINDOW_S, SmartTurnDetector, SmartTurnModel


@pytest.fixture(scope="module")
def model() -> SmartTurnModel:
    return SmartTurnModel()


def spoken(audio_tools, text: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """0.5 s of silence, `text`, 0.2 s of silence (the pause after which a call asks)."""
    speech = audio_tools.trimmed_speech(text, rate)
    return np.concatenate([np.zeros(rate // 2, np.int16), speech, np.zeros(rate // 5, np.int16)])


def test_the_model_hears_a_question_end_and_a_sentence_break_off(model, audio_tools):
    finished = spoken(audio_tools, "What time do you open on Saturday?")
    broken_off = spoken(audio_tools, "I need to return a")
    assert model.probability(finished.astype(np.float32) / 32768) > 0.8
    assert model.probability(broken_off.astype(np.float32) / 32768) < 0.5


async def test_the_stream_predicts_on_what_it_was_fed_and_forgets_it_at_each_turn(
    model, audio_tools
):
    seen: list[tuple[float, float]] = []
    detector = SmartTurnDetector(model, threshold=0.6, on_prediction=lambda *p: seen.append(p))
    stream = detector.stream()
    assert await stream.unlikely_threshold(None) == 0.6
    assert await stream.supports_language(None)
    samples = spoken(audio_tools, "What time do you open on Saturday?", rate=24000)
    for start in range(0, len(samples), 480):  # 20 ms frames at 24 kHz, resampled to 16
        stream.push_audio(audio_tools.to_frame(samples[start : start + 480], 24000))
    heard = stream.audio()
    assert abs(len(heard) / SAMPLE_RATE - len(samples) / 24000) < 0.05
    first = stream.predict()
    assert stream.predict() is first  # one prediction at a time
    event = await asyncio.wait_for(first, 5)
    assert event.end_of_turn_probability == pytest.approx(model.probability(heard), abs=1e-6)
    assert event.end_of_turn_probability > 0.6 and event.inference_duration > 0
    assert seen == [(event.end_of_turn_probability, event.inference_duration)]
    # the caller spoke again: the prediction in progress is dropped
    pending = stream.predict()
    assert pending is not first
    stream.cancel_inference()
    assert pending.cancelled()
    # a committed turn: the next starts from nothing; the window never exceeds 8 s
    stream.flush("turn committed")
    assert len(stream.audio()) == 0
    silence = np.zeros(320, np.int16)
    for _ in range(WINDOW_S * 50 + 100):  # 10 s of 20 ms frames at 16 kHz
        stream.push_audio(audio_tools.to_frame(silence, SAMPLE_RATE))
    assert WINDOW_S * SAMPLE_RATE <= len(stream.audio()) <= WINDOW_S * SAMPLE_RATE + 320
    await stream.aclose()


def test_semantic_mode_shortens_the_turn_vads_hold():
    silence = AgentConfig(turn_detection=TurnDetection(min_silence_duration=0.6))
    semantic = AgentConfig(
        turn_detection=TurnDetection(mode="semantic", semantic_silence_duration=0.3)
    )
    assert turn_hold(silence) == 0.6 and turn_hold(semantic) == 0.3
    assert build_vad(semantic).options.min_silence_duration == 0.3
    with pytest.raises(ValueError, match="semantic_silence_duration"):
        TurnDetection(mode="semantic", semantic_silence_duration=0.1)  # under 0.25 s


async def test_a_semantic_agents_session_reads_its_turns_with_the_model(engines):
    from agent_worker.session import session_for

    config = AgentConfig(turn_detection=TurnDetection(mode="semantic", semantic_threshold=0.7))
    detector = session_for(config, engines).turn_detection
    assert isinstance(detector, SmartTurnDetector) and detector.threshold == 0.7
    assert session_for(AgentConfig(), engines).turn_detection == "vad"
