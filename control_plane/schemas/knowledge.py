"""Bodies of the knowledge-base API (seed 001's `/api/knowledge-base/...`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import NO_NUL_SCHEMA, Name, NoNul, ShortText

ItemType = Literal["document", "url", "text"]
KnowledgeUrl = Annotated[
    str,
    Field(
        pattern=r"^https?://[\x21-\x7e]+$", max_length=2000, examples=["https://example.com/about"]
    ),
]
Content = Annotated[str, Field(min_length=1, json_schema_extra=NO_NUL_SCHEMA), NoNul]
RefreshInterval = Annotated[int, Field(ge=1, le=30 * 86400)]


class _Body(BaseModel):
    # Clients of the seed may send fields of their own: ignored, not refused.
    model_config = ConfigDict(extra="ignore")


class TextItemCreate(_Body):
    agent_id: str
    title: Name
    content: Content
    category: ShortText | None = None


class UrlItemCreate(_Body):
    agent_id: str
    url: KnowledgeUrl
    refresh_interval: RefreshInterval | None = None
    """Seconds between fetches; null: fetched once."""
    name: Name | None = None
    category: ShortText | None = None


class KnowledgeSearch(_Body):
    agent_id: str
    query: Annotated[str, Field(min_length=1, max_length=2000)]
    top_k: Annotated[int, Field(ge=1, le=20)] | None = None


class KnowledgeItemView(BaseModel):
    id: str
    agent_id: str
    type: ItemType
    name: str
    category: str | None
    url: str | None
    refresh_interval: int | None
    format: str | None
    size_bytes: int
    status: Literal["processing", "ready", "failed"]
    error: str | None
    chunks: int
    created_at: str
    updated_at: str
    ingested_at: str | None
    next_refresh_at: str | None


class KnowledgeItemList(BaseModel):
    items: list[KnowledgeItemView]


class PassageView(BaseModel):
    item_id: str
    source: str
    text: str
    score: float
    relevant: bool
    """Whether a call would use it (its score reaches the agent's `min_score` and is within
    its `score_margin` of the best)."""


class SearchResult(BaseModel):
    query: str
    min_score: float
    passages: list[PassageView]
