"""Forgets what the agents' privacy settings say not to keep.

Each agent's `privacy.retention_days` bounds the age of its calls: older conversations are
deleted with their transcripts and recordings. Webhook delivery logs (which carry the events'
payloads, message text included) are deleted once finished and `webhook_log_days` old; voice
previews once they expire.
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
from ..store.outage import OutageLog
from ..store.repositories import (
    ConsoleSessionRepository,
    ConversationRepository,
    VoiceAgentRepository,
    VoicePreviewRepository,
    WebhookDeliveryRepository,
)

logger = logging.getLogger("control_plane.jobs.retention")


@dataclass
class Purged:
    conversations: int = 0
    recordings: int = 0
    webhook_deliveries: int = 0
    console_sessions: int = 0
    voice_previews: int = 0


async def purge(
    session: AsyncSession,
    store: RecordingStore,
    *,
    webhook_log_days: int = 30,
    now: datetime | None = None,
) -> Purged:
    """Delete every agent's calls older than its `retention_days`; commits per agent.

    Recordings go first, then the records: a purge that dies between the two leaves records
    whose recordings are gone (the next purge deletes them), never a recording no record
    points to any more. Several purges may run at once (one per control plane): on PostgreSQL
    each call is locked by one of them, and on both backends each counts only the records
    and recordings it deleted itself."""
    now = now or utcnow()
    purged = Purged()
    agents = await VoiceAgentRepository(session).privacy_of_all()
    calls = ConversationRepository(session)
    for agent_id, privacy in agents:
        days = (privacy or {}).get("retention_days")
        if not days:
            continue
        old = await calls.lock_expired(agent_id=agent_id, created_before=now - timedelta(days=days))
        if not old:
            continue
        for row in old:
            if row.recording and await asyncio.to_thread(store.delete, row.recording):
                purged.recordings += 1
        purged.conversations += await calls.delete_many(conversation_ids=[r.id for r in old])
        await session.commit()
    purged.webhook_deliveries = await WebhookDeliveryRepository(session).delete_finished(
        created_before=now - timedelta(days=webhook_log_days)
    )
    purged.console_sessions = await ConsoleSessionRepository(session).close_expired()
    purged.voice_previews = await VoicePreviewRepository(session).purge_expired(now=now)
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
    outages = OutageLog(logger, "the retention purge")
    while True:
        try:
            async with sessions() as session:
                await purge(session, store, webhook_log_days=webhook_log_days)
            outages.succeeded()
        except Exception as exc:  # the next round tries again
            outages.failed(exc)
        await asyncio.sleep(interval)
