"""Provider keys (integrations) and the voice library."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ProviderKeyIn(BaseModel):
    """A provider API key to connect or test."""

    model_config = ConfigDict(extra="ignore", strict=True)

    api_key: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")]
    """Printable ASCII, as every provider's keys are."""


class IntegrationStatus(BaseModel):
    connected: bool
    masked_key: str | None
    """The key's last four characters (`***xyz1`); the key itself is never returned."""


class IntegrationConnected(BaseModel):
    connected: Literal[True] = True
    user: dict[str, object]
    """What the provider says of the key's account (ElevenLabs: `subscription.tier`)."""


class KeyCheck(BaseModel):
    valid: bool


Source = Literal["public", "local", "user_designed", "user_trained", "user_elevenlabs"]


class LibraryVoice(BaseModel):
    voice_id: str
    name: str
    source: Source
    preview_url: str | None


class VoiceLibrary(BaseModel):
    voices: list[LibraryVoice]
    total: int
