"""A company's webhook subscriptions and their outbox of deliveries.

The dispatcher and the retention purge serve every company at once: their methods here span
companies, and say so.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, CursorResult, Result, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Webhook, WebhookDelivery, utcnow


class WebhookRepository:
    """A company's subscriptions to its events."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def count(self, *, company_id: uuid.UUID) -> int:
        """How many webhooks the company has."""
        query = select(func.count()).select_from(Webhook).where(Webhook.company_id == company_id)
        return await self.session.scalar(query) or 0

    async def list(self, *, company_id: uuid.UUID) -> Sequence[Webhook]:
        """The company's webhooks, oldest first."""
        result = await self.session.scalars(
            select(Webhook).where(Webhook.company_id == company_id).order_by(Webhook.created_at)
        )
        return result.all()

    async def get(self, *, company_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook | None:
        """The company's webhook `webhook_id` (None for another company's)."""
        return await self.session.scalar(
            select(Webhook).where(Webhook.id == webhook_id, Webhook.company_id == company_id)
        )

    async def subscribed(self, *, company_id: uuid.UUID, event: str) -> builtins.list[Webhook]:
        """The company's webhooks subscribed to `event` (by name, or to all with `*`)."""
        hooks = await self.session.scalars(select(Webhook).where(Webhook.company_id == company_id))
        return [hook for hook in hooks.all() if event in hook.events or "*" in hook.events]

    async def create(
        self,
        *,
        company_id: uuid.UUID,
        url: str,
        events: builtins.list[str],
        secret_ciphertext: str,
        description: str | None,
    ) -> Webhook:
        hook = Webhook(
            company_id=company_id,
            url=url,
            events=events,
            secret_ciphertext=secret_ciphertext,
            description=description,
        )
        self.session.add(hook)
        await self.session.flush()
        return hook

    async def delete(self, *, webhook: Webhook) -> None:
        """Unsubscribe; its deliveries go with it (ON DELETE CASCADE)."""
        await self.session.delete(webhook)
        await self.session.flush()


class DueDelivery(NamedTuple):
    """A delivery claimed by a dispatcher, with where it goes, its sealed secret and the end
    of the claim's lease."""

    id: uuid.UUID
    url: str
    secret_ciphertext: str
    claimed_until: datetime


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    """No dispatcher holds the delivery: never claimed, or its lease has expired."""
    return or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now)


def _changed_rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (the session types every result as a plain `Result`;
    a DML statement's is a `CursorResult`)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an UPDATE or DELETE: {type(result).__name__}")
    return result.rowcount


class WebhookDeliveryRepository:
    """The outbox: one row per event and subscribed webhook, delivered at least once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def queue(
        self, *, company_id: uuid.UUID, webhook_id: uuid.UUID, event: str, payload: dict[str, Any]
    ) -> WebhookDelivery:
        """Add a pending delivery, due now; it is written with the caller's transaction (the
        change the event reports)."""
        delivery = WebhookDelivery(
            company_id=company_id,
            webhook_id=webhook_id,
            event=event,
            payload=payload,
            status="pending",
            retry_count=0,
            next_retry_at=utcnow(),
            attempts=[],
        )
        self.session.add(delivery)
        return delivery

    async def latest(
        self, *, company_id: uuid.UUID, webhook_id: uuid.UUID, limit: int
    ) -> Sequence[WebhookDelivery]:
        """The webhook's latest `limit` deliveries, newest first."""
        result = await self.session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.company_id == company_id,
            )
            .order_by(WebhookDelivery.created_at.desc())
            .limit(limit)
        )
        return result.all()

    async def claim_due(self, *, now: datetime, lease: timedelta, limit: int) -> list[DueDelivery]:
        """Claim up to `limit` pending deliveries due by `now`, the longest due first, across
        companies: each is held until `now + lease` (a dispatcher that dies loses nothing, its
        claim expires), and only those claimed here are returned. Run in the caller's
        transaction, committed at once.

        Atomic on both backends: PostgreSQL locks the candidates (`SKIP LOCKED`: those another
        dispatcher is claiming are left to it); the UPDATE then takes only rows still pending,
        due and unclaimed, which on SQLite (one writer at a time, no row locks) is what keeps
        a delivery another dispatcher claimed, or already delivered, since the candidates were
        read from being claimed again."""
        claimable = (
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_retry_at <= now,
            _unclaimed(now),
        )
        candidates = (
            await self.session.scalars(
                select(WebhookDelivery.id)
                .where(*claimable)
                .order_by(WebhookDelivery.next_retry_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not candidates:
            return []
        until = now + lease
        claimed = (
            await self.session.scalars(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(candidates), *claimable)
                .values(locked_until=until)
                .returning(WebhookDelivery.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not claimed:
            return []
        rows = await self.session.execute(
            select(WebhookDelivery.id, Webhook.url, Webhook.secret_ciphertext)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id.in_(claimed))
            .order_by(WebhookDelivery.next_retry_at)
        )
        return [DueDelivery(*row, claimed_until=until) for row in rows.all()]

    async def get_for_dispatch(self, *, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        """A delivery the dispatcher claimed, whatever its company (None if it was deleted
        since, with its webhook)."""
        return await self.session.get(WebhookDelivery, delivery_id)

    async def record_attempt(
        self, *, delivery_id: uuid.UUID, claimed_until: datetime, values: dict[str, Any]
    ) -> bool:
        """Write an attempt's outcome on the delivery: `values` holds its new status, retry
        schedule, lease and attempts log. Only while the claim that ends at `claimed_until` is
        still the delivery's (its lease is the claim's token): False, and nothing written,
        when it expired and another dispatcher took the delivery over."""
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.locked_until == claimed_until,
            )
            .values(**values)
        )
        return _changed_rows(result) == 1

    async def backlog(self, *, now: datetime) -> tuple[int, int]:
        """The outbox's depth across companies: pending deliveries due by `now`, and pending
        deliveries in all (those waiting for their next retry too)."""
        due, pending = (
            await self.session.execute(
                select(
                    func.count().filter(WebhookDelivery.next_retry_at <= now), func.count()
                ).where(WebhookDelivery.status == "pending")
            )
        ).one()
        return int(due), int(pending)

    async def delete_finished(self, *, created_before: datetime) -> int:
        """Delete the delivered and failed deliveries (not the pending ones) created before
        `created_before`, across companies; how many were deleted."""
        result = await self.session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.status != "pending",
                WebhookDelivery.created_at < created_before,
            )
        )
        return _changed_rows(result)
