"""Starting, listing, reading and ending conversations (calls)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import Language

from ..store.models import Conversation
from .fields import Comments, Outcome, Rating


class ConversationStart(BaseModel):
    """`POST /conversations`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    agent_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@:+\-]+$")
    language: Language | None = None
    initial_context: dict[str, Any] = Field(default_factory=dict)


class ConnectionDetails(BaseModel):
    websocket_url: str
    """The LiveKit server URL to join with `token`."""
    token: str
    """A LiveKit access token for `room_name`; joining it brings the agent into the room."""
    room_name: str
    participant_identity: str


class ConversationStarted(BaseModel):
    conversation_id: str
    agent_id: uuid.UUID
    status: str
    created_at: datetime
    connection_details: ConnectionDetails


ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"


class ConversationSummary(BaseModel):
    id: str
    agent_id: uuid.UUID | None
    user_id: str
    status: str
    end_reason: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    """Seconds from the agent joining to the end of the call."""
    channel: Literal["voice", "chat"] = "voice"
    """`voice` (a call) or `chat` (a text chat: `POST /v1/api/agents/{id}/chat`)."""

    @classmethod
    def of(cls, row: Conversation) -> ConversationSummary:
        return cls(
            id=row.id,
            agent_id=row.agent_id,
            user_id=row.user_id,
            status=row.status,
            end_reason=row.end_reason,
            created_at=row.created_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            duration=row.duration,
            channel=row.channel,  # type: ignore[arg-type]
        )


class ConversationList(BaseModel):
    conversations: list[ConversationSummary]
    total: int
    page: int
    limit: int


class TranscriptMessage(BaseModel):
    speaker: str
    """`agent` or `user`."""
    text: str
    """For the agent, what the caller heard (cut where an interruption stopped it)."""
    interrupted: bool
    timestamp: float
    """Seconds since the agent joined the call."""
    created_at: datetime


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rating: Rating | None = None
    comments: Comments | None = None


class ConversationEnd(BaseModel):
    """`POST /conversations/{id}/end`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Outcome | None = None
    """The outcome in your terms (e.g. `resolved`), stored as the conversation's `outcome`."""
    feedback: Feedback | None = None


class ToolUse(BaseModel):
    """One tool call the agent made during the call."""

    name: str
    source: str
    """`http`, `builtin` or `mcp`."""
    status: Literal["success", "failed"]
    arguments: dict[str, Any] | None
    """What the model passed (null when the agent's privacy keeps no content)."""
    result: str | None
    """What the tool answered, or the error (null under the same privacy)."""
    at: datetime


class ConversationMetadata(BaseModel):
    tools_used: list[str]
    """Names of the tools used, in order (seed 001's `metadata.tools_used`)."""


class ConversationDetails(ConversationSummary):
    transcript: list[TranscriptMessage]
    tools: list[ToolUse]
    """Every tool call of the call, in order."""
    metadata: ConversationMetadata
    metrics: dict[str, Any]
    """Per-turn latency (seconds) of each stage, and their p50/p95."""
    audio_url: str | None
    """Path of the call's recording (`GET /conversations/{id}/audio`); null when none is
    kept (the agent's privacy settings) or the call is not over."""
    outcome: str | None
    feedback: Feedback | None
