"""Text to speech and speech to text."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import NO_NUL_SCHEMA, Language, NoNul, OutputFormatName, Unit, VoiceSpeed


class TTSRequest(BaseModel):
    """`POST /voice-agents/elevenlabs/voices/{voiceId}/tts`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    text: Annotated[
        str, Field(min_length=1, max_length=5000, json_schema_extra=NO_NUL_SCHEMA), NoNul
    ]
    model_id: str | None = Field(default=None, max_length=100)
    language_code: Language | None = None
    voice_speed: VoiceSpeed | None = None
    voice_stability: Unit | None = None
    voice_similarity_boost: Unit | None = None
    voice_style: Unit | None = None
    output_format: OutputFormatName | None = None  # type: ignore[valid-type]


class TranscriptionResponse(BaseModel):
    text: str
    language: str
    """The language asked for, or the one detected."""
