"""The local speech engines the control plane uses for its TTS and STT endpoints.

They are the same engines the worker runs (Piper, Whisper), loaded on first use and shared by
the process's requests. Inference is blocking and runs in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from pipelines.cloud import LOCAL_VOICE_PREFIX
from pipelines.stt import WhisperModelHandle
from pipelines.tts import PiperTTSOptions, PiperVoiceHandle

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

    def local_voice_ids(self) -> list[str]:
        """The `local:` voices the catalog lists, each of which can speak here."""
        return list(self._voice_paths())

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

    def _whisper_model(self) -> WhisperModelHandle:
        with self._lock:
            if self._whisper is None:
                # Files are not call turns: Whisper's standard 30 s windows suit them best.
                self._whisper = WhisperModelHandle(self.settings.whisper_model, short_window=False)
            return self._whisper

    def _synthesize(self, voice_id: str, text: str, voice_speed: float) -> tuple[bytes, int]:
        voice = self._voice(voice_id)
        with voice.lock:
            pcm = b"".join(voice.synthesize_chunks(text, PiperTTSOptions(voice_speed=voice_speed)))
        return pcm, voice.sample_rate

    async def synthesize(
        self, voice_id: str, text: str, *, voice_speed: float
    ) -> tuple[bytes, int]:
        """16-bit mono PCM of `text` spoken by the local voice, and its sample rate."""
        return await asyncio.to_thread(self._synthesize, voice_id, text, voice_speed)

    async def transcribe(self, audio: np.ndarray, *, language: str) -> str:
        """Text of 16 kHz float32 mono audio."""

        def run() -> str:
            return self._whisper_model().transcribe(audio, language=language, beam_size=1)

        return await asyncio.to_thread(run)
