"""The local speech engines the control plane uses for its TTS and STT endpoints.

They are the same engines the worker runs (Piper and espeak-ng voices; Whisper tiny.en for
English and the multilingual Whisper base for other languages and for detection), loaded on
first use and shared by the process's requests. Inference is blocking and runs in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from pipelines.cloud import LOCAL_VOICE_PREFIX
from pipelines.errors import PipelineSetupError
from pipelines.models import multilingual_whisper_dir
from pipelines.stt import WhisperModelHandle
from pipelines.tts import PiperTTSOptions, PiperVoiceHandle
from pipelines.tts.espeak import (
    ESPEAK_RATE,
    espeak_voice,
    espeak_voices,
    is_espeak_voice,
    synthesize_blocking,
)

from .settings import Settings
from .voices.catalog import installed_voice_paths


class UnknownVoiceError(LookupError):
    """A `local:` voice id that is not installed."""


class SpeechEngines:
    """Lazily loaded Piper voices and Whisper model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._voices: dict[str, PiperVoiceHandle] = {}
        self._whisper: WhisperModelHandle | None = None
        self._multilingual: WhisperModelHandle | None = None

    def local_voice_ids(self) -> list[str]:
        """The `local:` voices the catalog lists, each of which can speak here."""
        return [*self._voice_paths(), *(v.voice_id for v in espeak_voices())]

    @staticmethod
    def _voice_paths() -> dict[str, Path]:
        return {f"{LOCAL_VOICE_PREFIX}{path.stem}": path for path in installed_voice_paths()}

    def _voice(self, voice_id: str) -> PiperVoiceHandle:
        with self._lock:
            if voice_id not in self._voices:
                path = self._voice_paths().get(voice_id)
                if path is None:
                    raise UnknownVoiceError(voice_id)
                self._voices[voice_id] = PiperVoiceHandle(path)
            return self._voices[voice_id]

    def _whisper_model(self, english: bool) -> WhisperModelHandle:
        # Files are not call turns: Whisper's standard 30 s windows suit them best.
        with self._lock:
            if self._whisper is None:
                self._whisper = WhisperModelHandle(self.settings.whisper_model, short_window=False)
            if english or not self._whisper.english_only:
                return self._whisper
            if self._multilingual is None:
                path = multilingual_whisper_dir(self.settings.whisper_multilingual_model)
                self._multilingual = WhisperModelHandle(path, short_window=False)
            return self._multilingual

    def _synthesize(self, voice_id: str, text: str, voice_speed: float) -> tuple[bytes, int]:
        if is_espeak_voice(voice_id):
            try:
                espeak = espeak_voice(voice_id)
            except PipelineSetupError:  # not offered, or espeak-ng not installed
                raise UnknownVoiceError(voice_id) from None
            pcm = synthesize_blocking(text, espeak, voice_speed=voice_speed, pitch="medium")
            return pcm, ESPEAK_RATE
        voice = self._voice(voice_id)
        with voice.lock:
            pcm = b"".join(voice.synthesize_chunks(text, PiperTTSOptions(voice_speed=voice_speed)))
        return pcm, voice.sample_rate

    async def synthesize(
        self, voice_id: str, text: str, *, voice_speed: float
    ) -> tuple[bytes, int]:
        """16-bit mono PCM of `text` spoken by the local voice, and its sample rate."""
        return await asyncio.to_thread(self._synthesize, voice_id, text, voice_speed)

    async def transcribe(self, audio: np.ndarray, *, language: str | None) -> tuple[str, str]:
        """Text of 16 kHz float32 mono audio, and its language: `language` when given (English
        through the English model, others through the multilingual one), else the language
        the multilingual model hears."""

        def run() -> tuple[str, str]:
            if language is None:
                return self._whisper_model(english=False).transcribe_detecting(audio, beam_size=1)
            english = language.lower().split("-")[0] == "en"
            model = self._whisper_model(english=english)
            return model.transcribe(audio, language=language, beam_size=1), language

        return await asyncio.to_thread(run)
