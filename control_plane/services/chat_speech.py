"""Speech in a text chat: an audio message transcribed, the agent's sentences spoken in its
voice (its local Piper voice here, or its ElevenLabs voice with the company's key)."""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass

import numpy as np

from pipelines.cloud import LOCAL_VOICE_PREFIX
from shared.audio import AudioDecodeError, AudioTooLongError, decode_to_mono, encode_pcm

from ..agent_loader import StoredAgent
from ..providers import ProviderEndpoints, elevenlabs_speech
from ..speech import SpeechEngines
from .chat import ChatError

STT_RATE = 16000
AUDIO_FORMAT = "mp3_44100_128"
"""What each spoken sentence is sent as (base64 in the stream's `chunk` events)."""

SENTENCE_END = re.compile(r"(?<=[.!?。؟…])\s+|\n+")


class Sentences:
    """Text as it streams in, cut into whole sentences to speak."""

    def __init__(self) -> None:
        self._buffer = ""

    def push(self, text: str) -> list[str]:
        self._buffer += text
        parts = SENTENCE_END.split(self._buffer)
        self._buffer = parts.pop()
        return [part.strip() for part in parts if part.strip()]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []


@dataclass
class ChatSpeech:
    engines: SpeechEngines
    agent: StoredAgent
    endpoints: ProviderEndpoints
    elevenlabs_key: str | None
    max_seconds: float

    async def transcribe(self, data: bytes) -> str:
        """The words of an audio message in the agent's language; `ChatError` 400 when it
        cannot be decoded or holds no words, 413 when longer than allowed."""
        try:
            audio = await asyncio.to_thread(
                decode_to_mono, data, STT_RATE, max_seconds=self.max_seconds
            )
        except AudioTooLongError as exc:
            raise ChatError(413, f"audio: {exc}") from None
        except AudioDecodeError as exc:
            raise ChatError(400, f"audio: {exc}") from None
        text, _language = await self.engines.transcribe(audio, language=self.agent.config.language)
        if not text.strip():
            raise ChatError(400, "audio: no words were heard in it")
        return text.strip()

    async def speak(self, text: str) -> str:
        """`text` in the agent's voice, as base64 `AUDIO_FORMAT`."""
        config = self.agent.config
        pcm: bytes | np.ndarray
        if config.voice_id.startswith(LOCAL_VOICE_PREFIX):
            pcm, rate = await self.engines.synthesize(
                config.voice_id, text, voice_speed=config.voice_speed
            )
        else:
            if not self.elevenlabs_key:
                raise ChatError(409, "the agent's ElevenLabs voice needs an ElevenLabs key")
            pcm, rate = await elevenlabs_speech(
                self.endpoints,
                self.elevenlabs_key,
                voice_id=config.voice_id,
                text=text,
                model_id=config.model_id,
                language=config.language,
                stability=config.voice_stability,
                similarity_boost=config.voice_similarity_boost,
                style=config.voice_style,
                speed=config.voice_speed / 100,
            )
        audio = await asyncio.to_thread(encode_pcm, pcm, rate, AUDIO_FORMAT)
        return base64.b64encode(audio).decode("ascii")
