"""Closes the records of calls whose worker is gone.

A worker writes a heartbeat into each call's record (`recorder.HEARTBEAT_SECONDS`); a call
still `ongoing` whose last sign of life is older than `stale_seconds` lost its worker (a crash,
a kill, a machine gone) and is marked `failed` with the reason `worker_lost`, ended at its last
heartbeat. A call set up but never joined is failed (`not_joined`) once its token expired.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from ..store.models import utcnow
from ..store.outage import OutageLog
from ..store.repositories import ConversationRepository
from .webhooks import enqueue_closed

logger = logging.getLogger("control_plane.jobs.reaper")


async def reap(sessions: async_sessionmaker, *, stale_seconds: float, join_seconds: float) -> int:
    """Fail abandoned calls (and tell the company's webhooks); how many were closed. Several
    reapers may run at once (one per control plane): each call is closed, and reported, by
    one of them (`ConversationRepository.fail_lost`)."""
    now = utcnow()
    async with sessions() as session, session.begin():
        calls = ConversationRepository(session)
        lost = await calls.fail_lost(last_seen_before=now - timedelta(seconds=stale_seconds))
        unjoined = await calls.fail_unjoined(
            created_before=now - timedelta(seconds=join_seconds), now=now
        )
        for row in (*lost, *unjoined):
            await enqueue_closed(session, row)
    closed = len(lost) + len(unjoined)
    if closed:
        logger.warning("marked %d abandoned call(s) failed", closed)
    return closed


async def run_reaper(
    sessions: async_sessionmaker, *, interval: float, stale_seconds: float, join_seconds: float
) -> None:
    """Reap every `interval` seconds until cancelled."""
    outages = OutageLog(logger, "the reaper")
    while True:
        try:
            await reap(sessions, stale_seconds=stale_seconds, join_seconds=join_seconds)
            outages.succeeded()
        except Exception as exc:  # the next round tries again
            outages.failed(exc)
        await asyncio.sleep(interval)
