"""Assemble VAD, STT, LLM and TTS for one call from an `AgentConfig`.

Heavy models (Whisper, Piper) are loaded once per process into `Engines`; `build_pipeline`
creates the cheap per-call provider objects around them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from livekit.agents import llm, stt, tts, vad

from .config import AgentConfig
from .errors import PipelineSetupError
from .llm import build_openai_compatible_llm
from .stt import WhisperModelHandle, WhisperSTT, WhisperSTTOptions
from .tts import PiperTTS, PiperTTSOptions, PiperVoiceHandle
from .tts.chunking import SpeechChunker
from .vad import WebRTCVAD, WebRTCVADOptions

LOCAL_VOICE_PREFIX = "local:"

logger = logging.getLogger("pipelines")


@dataclass
class EngineSettings:
    """Where the local engines come from; all paths default to the packaged models."""

    whisper_model: str | Path | None = None
    piper_voice: str | Path | None = None
    stt_threads: int = 2
    llm_base_url: str = "http://127.0.0.1:8088/v1"
    llm_api_key: str | None = None
    profile: Literal["tuned", "stock"] = "tuned"
    """`stock` keeps livekit-agents' and faster-whisper's defaults (Silero VAD, 30 s Whisper
    window): the peer our tuned defaults are benchmarked against."""


class Engines:
    """Models loaded once per process and shared by its calls."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        stock = settings.profile == "stock"
        self.whisper = WhisperModelHandle(
            settings.whisper_model, cpu_threads=settings.stt_threads, short_window=not stock
        )
        self.piper = PiperVoiceHandle(settings.piper_voice)
        self.silero: vad.VAD | None = None
        if stock:
            from livekit.plugins import silero

            self.silero = silero.VAD.load()
        self.whisper.warm_up()
        self.piper.warm_up()


@dataclass
class Pipeline:
    """The four parts an `AgentSession` runs."""

    vad: vad.VAD
    stt: stt.STT
    llm: llm.LLM
    tts: tts.TTS


def build_vad(
    config: AgentConfig, engines: Engines | None = None, *, silence: float | None = None
) -> vad.VAD:
    """The turn VAD (hold = `min_silence_duration`), or another hold with `silence`."""
    if engines is not None and engines.silero is not None:
        return engines.silero
    td = config.turn_detection
    return WebRTCVAD(
        WebRTCVADOptions(
            aggressiveness=td.vad_aggressiveness,
            frame_ms=td.vad_frame_ms,
            min_speech_duration=td.min_speech_duration,
            min_silence_duration=td.min_silence_duration if silence is None else silence,
        )
    )


def build_stt(config: AgentConfig, engines: Engines) -> stt.STT:
    whisper = WhisperSTT(engines.whisper, WhisperSTTOptions(language=config.language))
    if engines.settings.profile == "stock":
        return whisper  # the framework pairs it with the session VAD
    # Whisper is not streaming: livekit's StreamAdapter recognises each segment its VAD cuts.
    # That VAD closes segments after a shorter silence than the turn VAD, so recognition runs
    # during the hold instead of after it.
    segmenter = build_vad(config, silence=config.turn_detection.stt_silence_duration)
    return stt.StreamAdapter(stt=whisper, vad=segmenter)


def build_tts(config: AgentConfig, engines: Engines) -> tts.TTS:
    installed = f"{LOCAL_VOICE_PREFIX}{engines.piper.path.stem}"
    if not config.voice_id.startswith(LOCAL_VOICE_PREFIX):
        # No cloud TTS provider is configured in this worker: the call still gets a voice.
        logger.warning(
            "voice %r needs a cloud TTS provider, which is not configured; speaking with the "
            "local voice %s",
            config.voice_id,
            installed,
        )
    elif config.voice_id != installed:
        raise PipelineSetupError(
            f"local voice {config.voice_id!r} is not installed; this worker has {installed} "
            "(set PIPER_VOICE to use another Piper voice)"
        )
    piper = PiperTTS(engines.piper, PiperTTSOptions(voice_speed=config.voice_speed))
    if engines.settings.profile == "stock":
        return piper  # the framework wraps it with its default sentence tokenizer
    # Speak each clause as soon as it is complete instead of each sentence.
    return tts.StreamAdapter(tts=piper, sentence_tokenizer=SpeechChunker())


def build_pipeline(config: AgentConfig, engines: Engines) -> Pipeline:
    """Per-call providers for `config`, around the process's loaded engines."""
    return Pipeline(
        vad=build_vad(config, engines),
        stt=build_stt(config, engines),
        llm=build_openai_compatible_llm(
            base_url=config.llm_base_url or engines.settings.llm_base_url,
            model=config.llm_model,
            temperature=config.temperature,
            max_tokens=config.max_completion_tokens,
            api_key=engines.settings.llm_api_key,
        ),
        tts=build_tts(config, engines),
    )
