"""Bodies of the text chat: seed 001's test chat (`/api/agents/{id}/chat`)."""

from __future__ import annotations

from typing import Annotated, Any

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
