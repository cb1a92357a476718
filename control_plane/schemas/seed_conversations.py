"""Seed 001's conversations (`/v1/api/conversations/...`) and account answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

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


def clock(seconds: float) -> str:
    """`HH:MM:SS` (whole seconds, rounded down)."""
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
