"""Speech pipelines: VAD, STT, LLM and TTS providers and the factory that assembles them.

The names below are the package's public surface: the simulator, the benchmarks and the fake
providers import these, never the modules behind them. They load on first use, so importing
one does not load every engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "PipelineSetupError": "pipelines.errors",
    "ModelNotFoundError": "pipelines.errors",
    "piper_voice_path": "pipelines.models",
    "whisper_model_dir": "pipelines.models",
    "multilingual_whisper_dir": "pipelines.models",
    "WhisperModelHandle": "pipelines.stt",
    "WhisperSTT": "pipelines.stt",
    "WhisperSTTOptions": "pipelines.stt",
    "PiperTTS": "pipelines.tts",
    "PiperTTSOptions": "pipelines.tts",
    "PiperVoiceHandle": "pipelines.tts",
    "WebRTCVAD": "pipelines.vad",
    "WebRTCVADOptions": "pipelines.vad",
    "llama_server_command": "pipelines.llm.server",
    "CloudSettings": "pipelines.settings",
    "ProviderCredentials": "pipelines.settings",
    "attempt_options": "pipelines.cloud",
    "is_fallback": "pipelines.cloud",
    "Engines": "pipelines.factory",
    "EngineSettings": "pipelines.settings",
    "build_tts": "pipelines.factory",
    "build_llm": "pipelines.factory",
}

__all__ = [
    "CloudSettings",
    "EngineSettings",
    "Engines",
    "ModelNotFoundError",
    "PipelineSetupError",
    "PiperTTS",
    "PiperTTSOptions",
    "PiperVoiceHandle",
    "ProviderCredentials",
    "WebRTCVAD",
    "WebRTCVADOptions",
    "WhisperModelHandle",
    "WhisperSTT",
    "WhisperSTTOptions",
    "attempt_options",
    "build_llm",
    "build_tts",
    "is_fallback",
    "llama_server_command",
    "multilingual_whisper_dir",
    "piper_voice_path",
    "whisper_model_dir",
]

if TYPE_CHECKING:
    from pipelines.cloud import attempt_options, is_fallback
    from pipelines.errors import ModelNotFoundError, PipelineSetupError
    from pipelines.factory import Engines, build_llm, build_tts
    from pipelines.llm.server import llama_server_command
    from pipelines.models import multilingual_whisper_dir, piper_voice_path, whisper_model_dir
    from pipelines.settings import CloudSettings, EngineSettings, ProviderCredentials
    from pipelines.stt import WhisperModelHandle, WhisperSTT, WhisperSTTOptions
    from pipelines.tts import PiperTTS, PiperTTSOptions, PiperVoiceHandle
    from pipelines.vad import WebRTCVAD, WebRTCVADOptions


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
