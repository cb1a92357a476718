"""Forgets what the agents' privacy settings say not to keep.

Each agent's `privacy.retention_days` bounds the age of its calls: older conversations are
deleted with their transcripts and recordings. Webhook delivery logs (which carry the events'
payloads, message text included) are deleted once finished and `webhook_log_days` old.
The control plane runs this every `RETENTION_INTERVAL_SECONDS`; `python -m control_plane
purge` runs it once (e.g. from cron when the API runs without it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..recordings import RecordingStore
from ..store.models import utcnow
from ..store.repositories import (
    ConversationRepository,
    VoiceAgentRepository,
    WebhookDeliveryRepository,
)

logger = logging.getLogger("control_plane.jobs.retention")


@dataclass
class Purged:
    conversations: int = 0
    recordings: int = 0
    webhook_deliveries: int = 0


async def purge(
    session: AsyncSession,
    store: RecordingStore,
    *,
    webhook_log_days: int = 30,
    now: datetime | None = None,
) -> Purged:
    """Delete every agent's calls older than its `retention_days`; commits per agent."""
    now = now or utcnow()
    purged = Purged()
    agents = await VoiceAgentRepository(session).privacy_of_all()
    calls = ConversationRepository(session)
    for agent_id, privacy in agents:
        days = (privacy or {}).get("retention_days")
        if not days:
            continue
        old = await calls.expired(agent_id=agent_id, created_before=now - timedelta(days=days))
        if not old:
            continue
        await calls.delete_many(conversation_ids=[r.id for r in old])
        await session.commit()
        purged.conversations += len(old)
        for row in old:
            if row.recording and await asyncio.to_thread(store.delete, row.recording):
                purged.recordings += 1
    purged.webhook_deliveries = await WebhookDeliveryRepository(session).delete_finished(
        created_before=now - timedelta(days=webhook_log_days)
    )
    await session.commit()
    if purged.conversations or purged.webhook_deliveries:
        logger.info("retention purge: %s", purged)
    return purged


async def run_purge(
    sessions: async_sessionmaker[AsyncSession],
    store: RecordingStore,
    *,
    interval: float,
    webhook_log_days: int,
) -> None:
    """Purge every `interval` seconds until cancelled."""
    while True:
        try:
            async with sessions() as session:
                await purge(session, store, webhook_log_days=webhook_log_days)
        except Exception as exc:  # the next round tries again
            logger.warning("retention purge failed: %s", exc)
        await asyncio.sleep(interval)
