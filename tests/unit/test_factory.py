from __future__ import annotations

import copy
import dataclasses
import threading

import pytest
from livekit.agents import llm as lk_llm
from livekit.agents import stt as lk_stt
from livekit.agents import tts as lk_tts
from livekit.agents import vad as lk_vad
from livekit.plugins import openai as lk_openai
from livekit.plugins import silero

from agent.contract import AgentConfig, TurnDetection
from livekit_patches.segmented_stt import SegmentedSTT
from pipelines.cloud import LOCAL_VOICE_PREFIX
from pipelines.factory import (
    Pipeline,
    build_pipeline,
    build_tts,
    build_vad,
    interruption_min_duration,
)
from pipelines.settings import ReplySpeed
from pipelines.stt import WhisperSTT
from pipelines.transcript_gate import GatedVAD, ReportingSTT
from pipelines.tts import PiperTTS
from pipelines.tts.chunking import SpeechChunker
from pipelines.vad import WebRTCVAD


def test_default_pipeline_parts(engines):
    pipeline = build_pipeline(AgentConfig(), engines)
    assert isinstance(pipeline, Pipeline)
    # Turns end by Silero with a 0.6 s hold (benchmarks/RESULTS.md), once the words before
    # the hold are transcribed: the turn VAD and the recogniser share a transcript gate.
    assert isinstance(pipeline.vad, GatedVAD)
    turn_vad = pipeline.vad.inner
    assert isinstance(turn_vad, silero.VAD)
    assert turn_vad._opts.min_silence_duration == 0.6
    # Whisper behind livekit's StreamAdapter, segmented by its own shorter-hold VAD, whose
    # cuts the gate counts as they happen.
    assert isinstance(pipeline.stt, SegmentedSTT)
    assert isinstance(pipeline.stt, lk_stt.StreamAdapter)
    reporting = pipeline.stt.wrapped_stt
    assert isinstance(reporting, ReportingSTT)
    assert reporting._on_empty == pipeline.vad.gate.resolved
    whisper = reporting.inner
    assert isinstance(whisper, WhisperSTT)
    segmenter = pipeline.stt._vad
    assert isinstance(segmenter, WebRTCVAD)
    assert segmenter.options.min_silence_duration == 0.15
    assert isinstance(pipeline.llm, lk_openai.LLM)
    # Piper behind livekit's StreamAdapter, cutting text with our clause-aware chunker.
    assert isinstance(pipeline.tts, lk_tts.StreamAdapter)
    assert isinstance(pipeline.tts._sentence_tokenizer, SpeechChunker)
    piper = pipeline.tts._wrapped_tts
    assert isinstance(piper, PiperTTS)
    # The per-call parts wrap the process's loaded engines, they do not reload them.
    assert whisper._handle is engines.whisper
    assert piper._handle is engines.piper
    assert pipeline.tts.sample_rate == engines.piper.sample_rate


def test_llm_follows_config_and_settings(engines):
    default = build_pipeline(AgentConfig(), engines).llm
    assert str(default._client.base_url).rstrip("/") == engines.settings.llm_base_url
    assert default.model == "local"
    assert default._opts.temperature == 0.7
    assert default._opts.extra_body == {"max_tokens": 80}

    config = AgentConfig(
        llm_base_url="http://10.0.0.5:8000/v1",
        llm_model="smol",
        temperature=0.2,
        max_completion_tokens=33,
    )
    # The agent's own endpoint, with the embedded model behind it should it fail.
    adapter = build_pipeline(config, engines).llm
    assert isinstance(adapter, lk_llm.FallbackAdapter)
    custom, local = adapter._llm_instances
    assert local.model == "local"
    assert str(custom._client.base_url).rstrip("/") == "http://10.0.0.5:8000/v1"
    assert custom.model == "smol"
    assert custom._opts.temperature == 0.2
    assert custom._opts.extra_body == {"max_tokens": 33}


def test_stt_and_tts_follow_config(engines):
    pipeline = build_pipeline(AgentConfig(language="en-GB", voice_speed=150), engines)
    assert pipeline.stt.wrapped_stt.inner._opts.language == "en-GB"
    assert pipeline.tts._wrapped_tts._opts.voice_speed == 150


def test_vad_options_reflect_turn_detection():
    td = TurnDetection(
        vad_aggressiveness=3, vad_frame_ms=30, min_speech_duration=0.25, min_silence_duration=0.7
    )
    opts = build_vad(AgentConfig(turn_detection=td)).options
    assert opts.aggressiveness == 3
    assert opts.frame_ms == 30
    assert opts.min_speech_duration == 0.25
    assert opts.min_silence_duration == 0.7

    default = build_vad(AgentConfig()).options
    assert (default.aggressiveness, default.frame_ms) == (2, 20)
    assert (default.min_speech_duration, default.min_silence_duration) == (0.1, 0.6)


def test_cloud_voice_without_provider_speaks_with_the_local_voice(engines, caplog):
    config = AgentConfig(voice_id="EXAVITQu4vr4xnSDxMaL", voice_speed=120)
    with caplog.at_level("WARNING", logger="pipelines"):
        tts = build_tts(config, engines)
    assert tts._wrapped_tts._handle is engines.piper
    assert tts._wrapped_tts._opts.voice_speed == 120
    # The log says which voice was asked for and which one speaks instead.
    assert "EXAVITQu4vr4xnSDxMaL" in caplog.text
    assert f"{LOCAL_VOICE_PREFIX}en_US-joe-medium" in caplog.text


def test_the_engines_use_the_short_window_whisper_and_the_agents_vad(engines):
    assert engines.whisper.short_window is True
    td = TurnDetection(vad="webrtc", min_silence_duration=0.9)
    detector = build_vad(AgentConfig(turn_detection=td), engines)
    assert isinstance(detector, WebRTCVAD)
    assert detector.options.min_silence_duration == 0.9


def test_silero_turn_vad_per_agent_built_on_a_call_thread(engines):
    """Calls run as threads: an agent choosing Silero gets it there, with its own hold, on
    the process's one model."""
    from concurrent.futures import ThreadPoolExecutor

    config = AgentConfig(turn_detection=TurnDetection(vad="silero", min_silence_duration=0.6))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(build_vad, config, engines).result()
        second = pool.submit(build_vad, config, engines).result()
    assert isinstance(first, silero.VAD) and first is not second
    assert first._opts.min_silence_duration == 0.6
    assert first._onnx_session is second._onnx_session
    # The STT's segmenter stays on WebRTC with its own short silence.
    assert isinstance(build_vad(config, engines, silence=0.15), WebRTCVAD)


async def silero_events(config: AgentConfig, engines, signal, audio_tools) -> list:
    """The session's turn VAD (Silero behind the transcript gate) over one utterance."""
    stream = build_pipeline(config, engines).vad.stream()
    sig = signal(rate=16000)
    step = 16000 * 20 // 1000
    for i in range(0, len(sig.samples), step):
        stream.push_frame(audio_tools.to_frame(sig.samples[i : i + step], 16000))
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()
    return events


def pause_window(events: list, config: AgentConfig) -> tuple[int, int]:
    """(samples index of the start of speech, of the first inference event whose speech time
    reaches the minimum interruption: where livekit-agents pauses the agent)."""
    start = next(ev for ev in events if ev.type is lk_vad.VADEventType.START_OF_SPEECH)
    minimum = interruption_min_duration(config)
    done = next(
        ev
        for ev in events
        if ev.type is lk_vad.VADEventType.INFERENCE_DONE and ev.speech_duration >= minimum
    )
    return start.samples_index, done.samples_index


async def test_silero_pauses_the_agent_at_its_start_of_speech(engines, signal, audio_tools):
    """Silero reports its start window's inference before deciding it starts speech; the turn
    VAD sends that inference again as of the start, so the default minimum interruption pauses
    the agent at the start of speech (64 ms of speech time), not a window or two later."""
    config = AgentConfig()
    assert config.turn_detection.vad == "silero"
    events = await silero_events(config, engines, signal, audio_tools)
    start, pause = pause_window(events, config)
    assert pause == start
    i = next(i for i, ev in enumerate(events) if ev.type is lk_vad.VADEventType.START_OF_SPEECH)
    before, again = events[i - 1], events[i + 1]
    assert before.type is again.type is lk_vad.VADEventType.INFERENCE_DONE
    assert (before.speaking, before.speech_duration) == (False, 0.0)
    assert again.speaking and again.speech_duration == pytest.approx(0.064)
    assert again.samples_index == before.samples_index and not again.frames
    # 0.1 s is rounded to the nearest window of speech time: the next window (96 ms)
    td = TurnDetection(min_interruption_duration=0.1)
    _, later = pause_window(events, AgentConfig(turn_detection=td))
    assert later == start + 512


async def test_silero_scores_each_window_on_the_calls_thread(
    engines, signal, audio_tools, monkeypatch
):
    """Each 32 ms window is scored in place on the call's loop thread (no thread pool hand-off
    per window), with the same scores as livekit's stock stream on the same model."""
    from livekit.plugins.silero import onnx_model

    scored_on: list[int] = []
    score = onnx_model.OnnxModel.__call__

    def recording(model, window):
        scored_on.append(threading.get_ident())
        return score(model, window)

    monkeypatch.setattr(onnx_model.OnnxModel, "__call__", recording)
    config = AgentConfig()
    ours = await silero_events(config, engines, signal, audio_tools)
    assert scored_on and set(scored_on) == {threading.get_ident()}

    scored_on.clear()
    base = engines.silero_base()
    stock = silero.VAD(session=base._onnx_session, opts=build_vad(config, engines)._opts)
    stream = stock.stream()
    sig = signal(rate=16000)
    for i in range(0, len(sig.samples), 320):
        stream.push_frame(audio_tools.to_frame(sig.samples[i : i + 320], 16000))
    stream.end_input()
    theirs = [ev async for ev in stream]
    await stream.aclose()
    assert threading.get_ident() not in scored_on  # livekit's own stream: its thread pool

    def probabilities(events: list) -> dict[int, float]:
        # per window (the turn VAD sends the window that starts speech twice, `speech_started`)
        done = lk_vad.VADEventType.INFERENCE_DONE
        return {ev.samples_index: ev.probability for ev in events if ev.type is done}

    assert probabilities(ours) == probabilities(theirs)


def test_webrtc_interruption_minimum_is_compared_as_configured():
    td = TurnDetection(vad="webrtc", min_interruption_duration=0.1)
    assert interruption_min_duration(AgentConfig(turn_detection=td)) == 0.1


@pytest.mark.parametrize("vad", ["silero", "webrtc"])
def test_no_interruption_minimum_reaches_silence(vad):
    """Silence is reported as no speech time: a minimum of 0 would pause the agent at once."""
    td = TurnDetection(vad=vad, min_interruption_duration=0.0)
    assert interruption_min_duration(AgentConfig(turn_detection=td)) > 0.0


async def test_reply_speed_settings_reach_the_voice_and_the_session(engines):
    # a session belongs to the running event loop
    from agent_worker.session import session_for
    from agent_worker.settings import Settings

    reply = Settings(tts_chunks="sentence", preemptive_tts=False).engine_settings().reply
    assert reply == ReplySpeed(tts_chunks="sentence", llm_warm_up=True, preemptive_tts=False)
    sentences = copy.copy(engines)
    sentences.settings = dataclasses.replace(engines.settings, reply=reply)
    chunker = build_pipeline(AgentConfig(), sentences).tts._sentence_tokenizer
    assert chunker.tokenize("Paris is the capital, a city famous for its food. Yes.") == [
        "Paris is the capital, a city famous for its food.",
        "Yes.",
    ]
    # the reply drafted during the hold is synthesised too, unless turned off
    assert session_for(AgentConfig(), engines).options.preemptive_generation["preemptive_tts"]
    assert not session_for(AgentConfig(), sentences).options.preemptive_generation["preemptive_tts"]
