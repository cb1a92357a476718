"""Signed webhooks through a durable outbox.

`enqueue` writes one delivery per subscribed webhook in the same transaction as the change it
reports, so an event exists exactly when its change does. `Dispatcher` delivers them at least
once: it claims due deliveries for a lease (a dispatcher that dies mid-delivery loses
nothing, its claim expires), POSTs them signed, and on failure retries with exponential
backoff until `max_attempts`. Each attempt is kept on the delivery and readable through the API.

Any number of control planes dispatch from one store: a claim is atomic (see
`WebhookDeliveryRepository.claim_due`), so each delivery is sent once while its dispatcher
lives, and an attempt is recorded only by the dispatcher whose claim is still current. A
store out of reach pauses delivery (logged once); what is pending goes out when it returns.

Signature: `X-Signature` is the hex HMAC-SHA256 of the raw body with the webhook's secret.
The body carries `timestamp` (the attempt's Unix time), also sent as `X-Timestamp`: it is part
of the signed material, so a receiver can reject old (replayed) deliveries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.egress import EgressPolicy, httpx_client

from ..metrics import WEBHOOK_DELIVERIES
from ..security import ProviderKeyVault
from ..store.models import Conversation, WebhookDelivery, utcnow
from ..store.outage import OutageLog
from ..store.repositories import (
    AnalysisRepository,
    DueDelivery,
    WebhookDeliveryRepository,
    WebhookRepository,
)

logger = logging.getLogger("control_plane.jobs.webhooks")

EVENTS = {
    "conversation.started": "A call started: the agent joined the caller",
    "conversation.ended": "A call ended normally",
    "conversation.failed": "A call failed (an error, or its worker was lost)",
    "conversation.analyzed": (
        "A conversation's analysis is done (summary, sentiment, intents, resolution, data "
        "collected, criteria) or failed"
    ),
    "message.received": "A final message was said in a call (caller or agent)",
    "agent.created": "A voice agent was created",
    "agent.updated": "A voice agent was changed",
    "agent.deleted": "A voice agent was deleted",
    "tool.executed": "A tool call of an agent succeeded",
    "tool.failed": "A tool call of an agent failed",
    "agent.handoff": "An agent handed the caller over (its transfer_call tool)",
    "error.occurred": "A provider failed during a call (and the call fell back)",
}


async def enqueue_closed(session: AsyncSession, row: Conversation) -> int:
    """`conversation.ended` (a successful call) or `conversation.failed` for a call that has
    just been closed; a call that was answered is queued for its analysis
    (`jobs.analysis`) in the same transaction."""
    if row.started_at is not None:
        await AnalysisRepository(session).queue(company_id=row.company_id, conversation_id=row.id)
    event = "conversation.ended" if row.status == "success" else "conversation.failed"
    data = {
        "conversation_id": row.id,
        "agent_id": str(row.agent_id) if row.agent_id else None,
        "user_id": row.user_id,
        "status": row.status,
        "end_reason": row.end_reason,
        "duration": row.duration,
    }
    return await enqueue(session, row.company_id, event, data)


async def enqueue(
    session: AsyncSession, company_id: uuid.UUID, event: str, data: dict[str, Any]
) -> int:
    """Add `event` to the outbox of each of the company's webhooks subscribed to it (commit
    with the change it reports); how many deliveries were queued."""
    hooks = await WebhookRepository(session).subscribed(company_id=company_id, event=event)
    payload = {"event": event, "created_at": utcnow().isoformat(), "data": data}
    deliveries = WebhookDeliveryRepository(session)
    for hook in hooks:
        deliveries.queue(company_id=company_id, webhook_id=hook.id, event=event, payload=payload)
    return len(hooks)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DispatchSettings:
    """From `Settings.webhook_*` (documented there)."""

    poll_interval: float
    timeout: float
    """A receiver slower than this counts as failed (and is retried); it never blocks a call."""
    max_attempts: int
    retry_base: float
    """Seconds before the first retry; doubled each time, at most `retry_max`."""
    retry_max: float = 3600.0
    lease: float = 30.0
    """How long a claim holds (`Settings.webhook_lease_seconds`)."""
    batch: int = 20
    egress: EgressPolicy = EgressPolicy()
    """Where receivers may be: checked again at each connection (the name may resolve
    elsewhere than at registration); no redirect is followed."""


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker,
        vault: ProviderKeyVault,
        settings: DispatchSettings,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.settings = settings
        self.outages = OutageLog(logger, "webhook delivery")

    async def run(self) -> None:
        """Deliver until cancelled."""
        async with httpx_client(self.settings.egress, timeout=self.settings.timeout) as client:
            while True:
                try:
                    delivered = await self.deliver_due(client)
                    self.outages.succeeded()
                except Exception as exc:  # the next round tries again
                    self.outages.failed(exc)
                    delivered = 0
                if not delivered:
                    await asyncio.sleep(self.settings.poll_interval)

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._deliver(client, due) for due in claimed))
        return len(claimed)

    async def _claim(self) -> list[DueDelivery]:
        async with self.sessions() as session, session.begin():
            return await WebhookDeliveryRepository(session).claim_due(
                now=utcnow(),
                lease=timedelta(seconds=self.settings.lease),
                limit=self.settings.batch,
            )

    async def _deliver(self, client: httpx.AsyncClient, due: DueDelivery) -> None:
        async with self.sessions() as session:
            delivery = await WebhookDeliveryRepository(session).get_for_dispatch(delivery_id=due.id)
        if delivery is None:
            return
        url, sealed = due.url, due.secret_ciphertext
        timestamp = str(int(time.time()))
        body = json.dumps({**delivery.payload, "timestamp": int(timestamp)}).encode()
        status_code: int | None = None
        error: str | None = None
        try:
            secret = self.vault.decrypt(sealed)
            response = await client.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Signature": sign(secret, body),
                    "X-Timestamp": timestamp,
                    "X-Event": delivery.event,
                    "X-Delivery-Id": str(delivery.id),
                },
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        await self._record(delivery, due.claimed_until, status_code, error)

    async def _record(
        self,
        delivery: WebhookDelivery,
        claimed_until: datetime,
        status_code: int | None,
        error: str | None,
    ) -> None:
        now = utcnow()
        attempt: dict[str, Any] = {
            "at": now.isoformat(),
            "status_code": status_code,
            "error": error,
            "retry_count": delivery.retry_count,
        }
        values: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
        if error is None:
            values |= {"status": "delivered", "delivered_at": now, "locked_until": None}
        else:
            retries = delivery.retry_count + 1
            if retries >= self.settings.max_attempts:
                values |= {"status": "failed", "locked_until": None, "retry_count": retries}
                attempt["next_retry"] = None
            else:
                delay = min(self.settings.retry_max, self.settings.retry_base * 2 ** (retries - 1))
                next_retry = now + timedelta(seconds=delay)
                values |= {"retry_count": retries, "next_retry_at": next_retry}
                values["locked_until"] = None
                attempt["next_retry"] = next_retry.isoformat()
        values["attempts"] = [*delivery.attempts, attempt]
        async with self.sessions() as session, session.begin():
            recorded = await WebhookDeliveryRepository(session).record_attempt(
                delivery_id=delivery.id, claimed_until=claimed_until, values=values
            )
        if not recorded:
            logger.warning(
                "webhook %s (delivery %s): attempt not recorded, its claim expired and another "
                "dispatcher took it over (raise WEBHOOK_LEASE_SECONDS)",
                delivery.event,
                delivery.id,
            )
            return
        outcome = "delivered" if error is None else values.get("status", "retrying")
        WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
        log = logger.info if error is None else logger.warning
        log("webhook %s (delivery %s): %s", delivery.event, delivery.id, error or "delivered")
