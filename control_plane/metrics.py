"""The control plane's Prometheus metrics, in a registry of their own (the process also loads
livekit-agents, whose worker metrics mean nothing here); served on `GET /metrics`
(`api.metrics`).

HTTP requests are counted by route template (`/voice-agents/{agent_id}`, never a raw path: no
ids in labels). The outbox and call gauges are read from the store, across companies (an
operator's view), at most once per `METRICS_CACHE_SECONDS`, so a scrape costs at most three
counts on indexed columns. The delivery counters are this process's dispatcher's.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from sqlalchemy.ext.asyncio import async_sessionmaker

from .store.models import utcnow
from .store.repositories import ConversationRepository, WebhookDeliveryRepository

logger = logging.getLogger("control_plane.metrics")

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "voice_agent_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "voice_agent_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "voice_agent_webhook_deliveries_total",
    "Webhook delivery attempts made by this process, by outcome: delivered, retrying (failed, "
    "tried again later) or failed (failed for the last time)",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_BACKLOG = Gauge(
    "voice_agent_webhook_backlog",
    "Webhook deliveries due now and not delivered yet, across companies",
    registry=REGISTRY,
)
WEBHOOK_PENDING = Gauge(
    "voice_agent_webhook_pending",
    "Webhook deliveries not delivered yet, due or waiting for their next retry",
    registry=REGISTRY,
)
ONGOING_CALLS = Gauge(
    "voice_agent_ongoing_calls",
    "Calls in progress (ongoing conversation records), across companies",
    registry=REGISTRY,
)


class StoreGauges:
    """Sets the gauges read from the store, at most once per `max_age` seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, sessions: async_sessionmaker) -> None:
        """Read the store again if the gauges are older than `max_age`; on a store error the
        gauges keep their last values (and the error is logged)."""
        async with self._lock:
            if self._read_at is not None and time.monotonic() - self._read_at < self.max_age:
                return
            try:
                async with sessions() as session:
                    due, pending = await WebhookDeliveryRepository(session).backlog(now=utcnow())
                    ongoing = await ConversationRepository(session).count_ongoing()
            except Exception as exc:  # the scrape still serves the other metrics
                logger.warning("could not read the store's gauges: %s", exc)
                return
            WEBHOOK_BACKLOG.set(due)
            WEBHOOK_PENDING.set(pending)
            ONGOING_CALLS.set(ongoing)
            self._read_at = time.monotonic()
