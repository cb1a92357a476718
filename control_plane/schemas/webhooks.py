"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..jobs.webhooks import EVENTS
from ..store.models import Webhook

EventName = Literal[tuple([*EVENTS, "*"])]  # type: ignore[valid-type]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    url: Annotated[str, Field(pattern=r"^https?://[\x21-\x7e]+$", max_length=2000)]
    events: Annotated[list[EventName], Field(min_length=1, max_length=len(EVENTS) + 1)]  # type: ignore[valid-type]
    secret: (
        Annotated[str, Field(min_length=12, max_length=200, pattern=r"^[\x21-\x7e]+$")] | None
    ) = None
    """Signing secret; one is generated (and shown once) when left out."""
    description: Annotated[str, Field(max_length=500, pattern=r"^[^\x00]*$")] | None = None

    @field_validator("events")
    @classmethod
    def _unique(cls, events: list[str]) -> list[str]:
        return sorted(set(events))


class WebhookPublic(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    created_at: datetime

    @classmethod
    def of(cls, hook: Webhook, **extra: Any) -> Self:
        """The webhook as the API shows it (`extra`: the subclass's own fields)."""
        return cls(
            id=hook.id,
            url=without_credentials(hook.url),
            events=hook.events,
            description=hook.description,
            created_at=hook.created_at,
            **extra,
        )


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic]


class WebhookCreated(WebhookPublic):
    secret: str | None
    """The generated secret, shown once (null when you gave your own)."""


def without_credentials(url: str) -> str:
    """A URL stored before credentials in URLs were refused, shown without them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


class EventType(BaseModel):
    event: str
    description: str


class Delivery(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event: str
    status: str
    retry_count: int
    next_retry_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[dict[str, Any]]
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
