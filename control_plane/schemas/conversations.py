"""Starting, listing, reading and ending conversations (calls)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import Language

from ..store.models import Conversation, ConversationAnalysis
from .fields import Comments, Outcome, Rating


class CallSettings(BaseModel):
    """This call's changes to the agent's settings (seed 004's `settings`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    voice_speed: float | None = Field(default=None, ge=0.5, le=2.0)
    """A multiplier of the agent's `voice_speed` (1.0: unchanged)."""
    voice_pitch: Literal["low", "medium", "high"] | None = None
    """Local voices only."""
    recording_enabled: bool | None = None
    """false: no recording of this call is kept (true cannot override the agent's privacy)."""


class ConversationStart(BaseModel):
    """`POST /conversations`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    agent_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@:+\-]+$")
    language: Language | None = None
    initial_context: dict[str, Any] = Field(default_factory=dict)
    settings: CallSettings = Field(default_factory=CallSettings)


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
    phone_number: str | None = None
    """A phone call's other party (the caller, or the number called); null otherwise."""
    direction: Literal["inbound", "outbound"] | None = None
    """A phone call's direction."""
    telephony_status: str | None = None
    """A phone call's last status from the provider (`ringing`, `in-progress`, `completed`,
    `busy`, `no-answer`, `failed`, `canceled`)."""
    sentiment: Literal["positive", "neutral", "negative"] | None = None
    """The caller's overall sentiment, once the conversation is analysed (seed 001)."""
    summary: str | None = None
    """What the conversation was about, once analysed (seed 001)."""

    @classmethod
    def of(
        cls, row: Conversation, analysis: ConversationAnalysis | None = None
    ) -> ConversationSummary:
        return cls(
            sentiment=analysis.sentiment if analysis else None,  # type: ignore[arg-type]
            summary=analysis.summary if analysis else None,
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
            phone_number=row.phone_number,
            direction=row.direction,  # type: ignore[arg-type]
            telephony_status=row.telephony_status,
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
    data_collected: dict[str, Any] = Field(default_factory=dict)
    """The agent's `analysis.data_collection` fields found in the conversation, once it is
    analysed (seed 001's `metadata.data_collected`)."""


class MessageSentiment(BaseModel):
    index: int
    """The message's place in the transcript (0 is the first)."""
    score: float
    """-1 (negative) to 1 (positive)."""
    label: Literal["positive", "neutral", "negative"]


class CriterionResult(BaseModel):
    result: bool
    evidence: str | None
    """What in the transcript decided it, as the model quoted it."""


class ConversationAnalysisOut(BaseModel):
    """What was worked out from the conversation after it ended."""

    status: Literal["pending", "processing", "completed", "failed"]
    """`pending` (queued, or waiting to be tried again), `processing`, `completed`, or
    `failed` (the language model could not be reached; the sentiment is still given)."""
    error: str | None
    """Why it failed, or why the model's parts are missing."""
    attempts: int
    summary: str | None
    sentiment: Literal["positive", "neutral", "negative"] | None
    sentiment_score: float | None
    """The caller's overall sentiment, -1 to 1 (later messages weigh more)."""
    message_sentiments: list[MessageSentiment]
    """Each of the caller's messages."""
    intents: list[str]
    resolution: Literal["resolved", "unresolved", "escalated"] | None
    was_resolved: bool | None
    """`resolution` is `resolved` (a chat's answer to "was it resolved?")."""
    user_satisfaction: Literal["low", "medium", "high"] | None
    """From the feedback's rating, when one was given."""
    data_collected: dict[str, Any]
    criteria: dict[str, CriterionResult]
    """Each of the agent's `analysis.success_criteria`, by id."""
    model: str | None
    """The language model that wrote the summary, intents, resolution and data."""
    finished_at: datetime | None

    @classmethod
    def of(cls, row: ConversationAnalysis, conversation: Conversation) -> ConversationAnalysisOut:
        rating = (conversation.feedback or {}).get("rating")
        return cls(
            status=row.status,  # type: ignore[arg-type]
            error=row.error,
            attempts=row.attempts,
            summary=row.summary,
            sentiment=row.sentiment,  # type: ignore[arg-type]
            sentiment_score=row.sentiment_score,
            message_sentiments=[MessageSentiment(**m) for m in row.message_sentiments or []],
            intents=list(row.intents or []),
            resolution=row.resolution,  # type: ignore[arg-type]
            was_resolved=(row.resolution == "resolved") if row.resolution else None,
            user_satisfaction=SATISFACTION.get(rating) if isinstance(rating, int) else None,  # type: ignore[arg-type]
            data_collected=dict(row.data_collected or {}),
            criteria={k: CriterionResult(**v) for k, v in (row.criteria or {}).items()},
            model=row.model,
            finished_at=row.finished_at,
        )


class HistoryMessage(BaseModel):
    """A message as seed 004's conversation history shows it."""

    id: str
    type: str
    """`agent` or `user`."""
    content: str
    timestamp: datetime


SATISFACTION = {1: "low", 2: "low", 3: "medium", 4: "high", 5: "high"}
"""Seed 004's `user_satisfaction`, from the feedback's rating."""


class ConversationDetails(ConversationSummary):
    conversation_id: str
    """The same as `id` (seed 004's name for it)."""
    messages: list[HistoryMessage]
    """The transcript in seed 004's shape."""
    transcript: list[TranscriptMessage]
    tools: list[ToolUse]
    """Every tool call of the call, in order."""
    metadata: ConversationMetadata
    metrics: dict[str, Any]
    """Per-turn latency (seconds) of each stage, and their p50/p95; seed 004's
    `user_satisfaction` (from the feedback's rating), `resolution_status` (the outcome given
    when the call was ended, else the analysis's resolution) and `sentiment_score` (null
    until the call is analysed)."""
    audio_url: str | None
    """Path of the call's recording (`GET /conversations/{id}/audio`); null when none is
    kept (the agent's privacy settings) or the call is not over."""
    outcome: str | None
    feedback: Feedback | None
    analysis: ConversationAnalysisOut | None = None
    """Null until the conversation has ended (and for agents that keep no content)."""
