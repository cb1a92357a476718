"""Bodies of the text chat: seed 001's test chat (`/api/agents/{id}/chat`) and the chat API
(`/api/v1/chat`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import LongText

SessionId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class AgentChat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: Annotated[LongText, Field(min_length=1)]
    """The user's words."""
    session_id: SessionId | None = None
    """Continue this chat (the agent reads its earlier messages); new or absent: a new chat
    under this id (or a generated one), returned in the answer."""
    context: dict[str, Any] = Field(default_factory=dict)
    """What is known about the user or the conversation (`user_name`, `location`, ...): told
    to the agent, kept with the chat for its later messages."""


class AgentChatReply(BaseModel):
    response: str
    session_id: str
    conversation_id: str
    """The chat's record (`GET /conversations/{id}`)."""
    tools_used: list[str]
    """Names of the tools the agent called for this answer, in order."""
    confidence: float | None
    """How well the agent's knowledge matched the message (the best passage's similarity,
    0-1); null when the agent has no knowledge base."""


# The chat API (`/api/v1/chat`).

Token = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class ChatConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID
    deployment_id: uuid.UUID | None = None
    """The deployment the chat comes through (a deployment-scoped key: its own, by default)."""
    title: Annotated[str, Field(max_length=200)] | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    """What is known about the user (`user_name`, ...): told to the agent."""


class ChatConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(max_length=200)] | None = None


class ChatConversation(BaseModel):
    id: str
    agent_id: uuid.UUID | None
    deployment_id: uuid.UUID | None
    title: str | None
    status: str
    """`ongoing`, or `success` once the agent ended it."""
    created_at: datetime
    updated_at: datetime | None
    """The latest message's time."""


class Page(BaseModel):
    total: int
    limit: int
    offset: int
    has_more: bool


class ChatConversationList(Page):
    conversations: list[ChatConversation]


class ChatMessage(BaseModel):
    id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str
    created_at: datetime
    interrupted: bool
    """The reply was cut short (the client left, or the model failed mid-reply)."""


class ChatMessageList(Page):
    messages: list[ChatMessage]


class ChatResponse(BaseModel):
    conversation_id: str
    agent_response_text: str
    response_time_ms: int
    was_resolved: bool
    """The agent answered without failing or handing the conversation over."""
    transcribed_text: str | None = None
    """The words of the audio message, when one was sent instead of `query`."""


class StreamEvent(BaseModel):
    """One Server-Sent Event of `agent/stream`: `start`, `transcribed_text`,
    `agent_text_chunk`, `chunk` (a sentence's speech, base64, with its `format` and `text`),
    `end` (the whole reply, with `response_time_ms` and `was_resolved`) or `error`."""

    type: Literal["start", "transcribed_text", "agent_text_chunk", "chunk", "end", "error"]
    content: str
    conversation_id: str


class DeploymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID
    channel: Token = "web"
    region: Token = "default"
    name: Annotated[str, Field(max_length=200)] = ""


class DeploymentOut(BaseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    channel: str
    region: str
    name: str
    agent_key: str
    """What chat requests name it by (`agent:<agent_id>:<channel>:<region>`)."""
    status: Literal["active", "revoked"]
    created_at: datetime
    revoked_at: datetime | None


class DeploymentKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=200)] = ""


class DeploymentKey(BaseModel):
    key_id: uuid.UUID
    key: str
    """Shown once: it serves this deployment's chat only, and dies with its revocation."""
    prefix: str
    deployment_id: uuid.UUID
