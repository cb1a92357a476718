"""Bodies and answers of seed 001's agents API (`/v1/api/agents/...`): the agent contract in
its nested `config` (`voice`, `conversation`, `turn_detection`, `privacy`), with the voice's
`speed` as a multiplier (1.0: the voice's pace; the contract's `voice_speed` is a
percentage).

`native_values` turns a body into the contract's flat fields, so creating and changing an
agent here runs exactly what `/voice-agents` runs (`services.agents`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from agent.contract import (
    CompletionTokens,
    Language,
    LongText,
    Name,
    ShortText,
    Unit,
    VoiceId,
)
from pipelines.cloud import tts_provider

from ..store.models import VoiceAgent
from .voice_agents import PATCHES

AgentStatus = Literal["active", "inactive"]
SpeedMultiplier = Annotated[float, Field(ge=0.5, le=2.0)]
TurnDetectionPatch: Any = PATCHES["turn_detection"]
PrivacyPatch: Any = PATCHES["privacy"]


class _Nested(BaseModel):
    # A misspelt nested key is a mistake: refused, as in the contract's nested settings.
    model_config = ConfigDict(extra="forbid", strict=True)


class VoiceSettings(_Nested):
    stability: Unit | None = None
    similarity_boost: Unit | None = None
    style: Unit | None = None
    speed: SpeedMultiplier | None = None
    """1.0: the voice's own pace."""


class VoiceConfig(_Nested):
    provider: Literal["local", "elevenlabs", "openai"] | None = None
    """Shown from the voice id (`local:...`, `openai:...`, else ElevenLabs); ignored when
    sent."""
    voice_id: VoiceId | None = None
    name: ShortText | None = None
    settings: VoiceSettings | None = None


class ConversationConfig(_Nested):
    first_message: LongText | None = None
    system_prompt: LongText | None = None
    model: Name | None = None
    """`local` (the embedded model) or a model of the agent's OpenAI-compatible endpoint."""
    temperature: Unit | None = None
    language: Language | None = None
    max_tokens: CompletionTokens | None = None


class AgentSettings(_Nested):
    voice: VoiceConfig | None = None
    conversation: ConversationConfig | None = None
    turn_detection: TurnDetectionPatch | None = None
    privacy: PrivacyPatch | None = None


class _Body(BaseModel):
    # Clients of the seed may send top-level fields of their own: ignored, not refused.
    model_config = ConfigDict(extra="ignore", strict=True)


class AgentUpdate(_Body):
    """`PUT /v1/api/agents/{id}/update`: the fields given change, the others keep their
    value (nested settings key by key)."""

    name: Name | SkipJsonSchema[None] = None
    description: LongText | None = None
    industry: ShortText | None = None
    status: AgentStatus | SkipJsonSchema[None] = None
    """`inactive`: the agent takes no calls."""
    config: AgentSettings | None = None

    @field_validator("name", "status")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("cannot be null")
        return value


class AgentCreate(AgentUpdate):
    """`POST /v1/api/agents/create`. The agent takes calls at once (`status: active`) unless
    it says `inactive`."""

    name: Name


def native_values(body: AgentUpdate) -> dict[str, Any]:
    """The contract's fields the body sets, flat (nested settings as the partial given)."""
    values: dict[str, Any] = {}
    for field in ("name", "description", "industry"):
        if field in body.model_fields_set:
            values[field] = getattr(body, field)
    if body.status is not None:
        values["active"] = body.status == "active"
    config = body.config
    if config is None:
        return values
    voice = config.voice or VoiceConfig()
    settings = voice.settings or VoiceSettings()
    conversation = config.conversation or ConversationConfig()
    pairs = {
        "voice_id": voice.voice_id,
        "voice_name": voice.name,
        "voice_stability": settings.stability,
        "voice_similarity_boost": settings.similarity_boost,
        "voice_style": settings.style,
        "voice_speed": None if settings.speed is None else round(settings.speed * 100, 3),
        "first_message": conversation.first_message,
        "system_prompt": conversation.system_prompt,
        "llm_model": conversation.model,
        "temperature": conversation.temperature,
        "language": conversation.language,
        "max_completion_tokens": conversation.max_tokens,
    }
    values.update({k: v for k, v in pairs.items() if v is not None})
    for field in ("turn_detection", "privacy"):
        patch = getattr(config, field)
        if patch is not None:
            values[field] = patch.model_dump(mode="json", exclude_unset=True)
    return values


class AgentStats(BaseModel):
    total_calls: int
    success_rate: float | None
    """Of the finished calls; null before the first ends."""


class AgentListItem(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: AgentStatus
    industry: str | None
    created_at: datetime
    stats: AgentStats


class Pagination(BaseModel):
    total: int
    page: int
    pages: int


class AgentList(BaseModel):
    agents: list[AgentListItem]
    pagination: Pagination


class KnowledgeSummary(BaseModel):
    items: int
    last_updated: datetime | None


class AgentAnalyticsSummary(AgentStats):
    avg_duration: float | None
    """Seconds, of the finished calls."""


class AgentDetails(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: AgentStatus
    industry: str | None
    created_at: datetime
    updated_at: datetime
    config: dict[str, Any]
    """`voice`, `conversation`, `turn_detection` and `privacy`, every setting shown."""
    knowledge_base: KnowledgeSummary
    tools: list[str]
    """The agent's tools' names (its HTTP and built-in tools, then its MCP tools)."""
    analytics: AgentAnalyticsSummary


def stats_of(counts: tuple[int, int, int] | None) -> AgentStats:
    total, finished, success = counts or (0, 0, 0)
    return AgentStats(
        total_calls=total, success_rate=round(success / finished, 4) if finished else None
    )


def config_of(agent: VoiceAgent) -> dict[str, Any]:
    """The agent's settings in the seed's nested shape."""
    return {
        "voice": {
            "provider": tts_provider(agent.voice_id),
            "voice_id": agent.voice_id,
            "name": agent.voice_name,
            "settings": {
                "stability": agent.voice_stability,
                "similarity_boost": agent.voice_similarity_boost,
                "style": agent.voice_style,
                "speed": round(agent.voice_speed / 100, 4),
            },
        },
        "conversation": {
            "first_message": agent.first_message,
            "system_prompt": agent.system_prompt,
            "model": agent.llm_model,
            "temperature": agent.temperature,
            "language": agent.language,
            "max_tokens": agent.max_completion_tokens,
        },
        "turn_detection": agent.turn_detection,
        "privacy": agent.privacy,
    }


def tool_names(agent: VoiceAgent) -> list[str]:
    names = [tool.get("name") or tool.get("type", "") for tool in agent.tools or []]
    return [*names, *(agent.assigned_tools or [])]
