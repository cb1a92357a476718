"""Seed 001's conversations (`/v1/api/conversations/...`) and account answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .seed_agents import Pagination


class ConversationItem(BaseModel):
    id: str
    agent_id: uuid.UUID | None
    user_id: str
    phone_number: str | None
    """The caller's number on a phone call; null for calls in a room and chats."""
    channel: str
    duration: float | None
    status: str
    """`ongoing`, `success` or `failed`."""
    started_at: datetime | None
    ended_at: datetime | None
    sentiment: str | None
    """`positive`, `neutral` or `negative` once the call is analysed; null before."""
    summary: str | None
    """Once the call is analysed; null before."""


class ConversationItems(BaseModel):
    conversations: list[ConversationItem]
    pagination: Pagination


class TranscriptLine(BaseModel):
    speaker: str
    """`agent` or `user`."""
    text: str
    timestamp: str
    """`HH:MM:SS` since the call started."""


class SeedMetadata(BaseModel):
    tools_used: list[str]
    data_collected: dict[str, Any]
    """What the analysis collected from the call (empty until it is analysed)."""


class ConversationView(ConversationItem):
    transcript: list[TranscriptLine]
    metadata: SeedMetadata
    audio_url: str | None
    """`GET /v1/api/conversations/{id}/audio`; null when no recording is kept."""


class KeyCheck(BaseModel):
    valid: bool
    account_id: uuid.UUID
    """The company the key belongs to."""
    key_id: uuid.UUID
    permissions: list[str]
    rate_limit: str
    """Requests the key may make (`100/minute`...)."""
    expires_at: datetime | None = None
    """When the key stops working; null: never."""


Permission = Literal["read", "write", "delete", "admin"]


class KeyRequest(BaseModel):
    """`POST /v1/api/get-api-key`: a user's email and password for a new key."""

    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)
    permissions: list[Permission] | None = Field(default=None, max_length=4)
    """What the key may do; by default all the user's role may."""
    expires_in_days: int = Field(default=90, ge=1, le=365)
    name: str = Field(default="", max_length=200)


class IssuedApiKey(BaseModel):
    api_key: str
    """Shown once: only its digest is kept."""
    key_id: uuid.UUID
    expires_at: datetime
    permissions: list[str]


def clock(seconds: float) -> str:
    """`HH:MM:SS` (whole seconds, rounded down)."""
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
