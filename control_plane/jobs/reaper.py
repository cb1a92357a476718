"""Closes the records of calls whose worker is gone.

A worker writes a heartbeat into each call's record (`recorder.HEARTBEAT_SECONDS`); a call
still `ongoing` whose last sign of life is older than `stale_seconds` lost its worker (a crash,
a kill, a machine gone) and is marked `failed` with the reason `worker_lost`, ended at its last
heartbeat. A call set up but never joined is failed (`not_joined`) once its token expired.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..store.models import Conversation, utcnow
from ..store.repositories import ConversationRepository
from .webhooks import enqueue_closed

logger = logging.getLogger("control_plane.jobs.reaper")


async def reap(sessions: async_sessionmaker, *, stale_seconds: float, join_seconds: float) -> int:
    """Fail abandoned calls (and tell the company's webhooks); how many were closed."""
    now = utcnow()
    closed = 0
    async with sessions() as session, session.begin():
        calls = ConversationRepository(session)
        lost = await calls.lock_lost(last_seen_before=now - timedelta(seconds=stale_seconds))
        closed += await _fail(session, lost, "worker_lost", now)
        unjoined = await calls.lock_unjoined(created_before=now - timedelta(seconds=join_seconds))
        closed += await _fail(session, unjoined, "not_joined", now)
    if closed:
        logger.warning("marked %d abandoned call(s) failed", closed)
    return closed


async def _fail(
    session: AsyncSession, rows: Sequence[Conversation], reason: str, now: datetime
) -> int:
    """Close `rows` as failed for `reason`: a lost call ends at its last heartbeat, an
    unjoined one now."""
    for row in rows:
        row.status = "failed"
        row.end_reason = reason
        row.ended_at = row.last_seen_at if reason == "worker_lost" else now
        await enqueue_closed(session, row)
    return len(rows)


async def run_reaper(
    sessions: async_sessionmaker, *, interval: float, stale_seconds: float, join_seconds: float
) -> None:
    """Reap every `interval` seconds until cancelled."""
    while True:
        try:
            await reap(sessions, stale_seconds=stale_seconds, join_seconds=join_seconds)
        except Exception as exc:  # the next round tries again
            logger.warning("reaper round failed: %s", exc)
        await asyncio.sleep(interval)
