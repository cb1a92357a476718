"""The reaper's rules on a real store: silent ongoing calls fail as `worker_lost` (ended at
their last heartbeat), unjoined ones as `not_joined` once their token expired; live and
finished calls are left alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from control_plane.jobs.reaper import reap
from control_plane.store.db import create_engine, session_factory
from control_plane.store.migrate import upgrade
from control_plane.store.models import Company, Conversation, utcnow
from tests.integration.conftest import database_url_for


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_reaper_fails_only_abandoned_calls(backend, tmp_path):
    asyncio.run(check_reaper(database_url_for(backend, tmp_path)))


async def check_reaper(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    now = utcnow()
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    company = uuid.uuid4()
    rows = {
        # id: (status, created_at, started_at, last_seen_at)
        "lost": ("ongoing", ago(300), ago(290), ago(120)),
        "live": ("ongoing", ago(300), ago(290), ago(5)),
        "unjoined": ("ongoing", ago(900), None, None),
        "waiting": ("ongoing", ago(30), None, None),
        "done": ("success", ago(900), ago(890), ago(800)),
    }
    try:
        async with sessions() as session, session.begin():
            session.add(Company(id=company, name="Reaped"))
            await session.flush()
            for name, (status, created, started, seen) in rows.items():
                session.add(
                    Conversation(
                        id=f"conv_{name}",
                        company_id=company,
                        user_id="u",
                        room_name=name,
                        status=status,
                        created_at=created,
                        started_at=started,
                        last_seen_at=seen,
                        metrics={},
                    )
                )
        closed = await reap(sessions, stale_seconds=45, join_seconds=600)
        assert closed == 2
        async with sessions() as session:
            got = {name: await session.get(Conversation, f"conv_{name}") for name in rows}
        assert (got["lost"].status, got["lost"].end_reason) == ("failed", "worker_lost")
        assert got["lost"].ended_at == rows["lost"][3]
        assert (got["unjoined"].status, got["unjoined"].end_reason) == ("failed", "not_joined")
        for name in ("live", "waiting"):
            assert got[name].status == "ongoing" and got[name].end_reason is None
        assert got["done"].status == "success"
        assert await reap(sessions, stale_seconds=45, join_seconds=600) == 0
    finally:
        await engine.dispose()


def test_a_quiet_call_keeps_beating(tmp_path):
    """No message for a while: the worker's heartbeat alone keeps the call's record fresh."""
    asyncio.run(check_heartbeat(database_url_for("sqlite", tmp_path)))


async def check_heartbeat(url: str) -> None:
    from agent_worker.recorder import CallIdentity, ConversationRecorder
    from tests.helpers import poll_until

    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    company = uuid.uuid4()
    async with sessions() as session, session.begin():
        session.add(Company(id=company, name="Quiet"))
        await session.flush()
        # As POST /conversations leaves it (the agent's row is not needed here).
        session.add(
            Conversation(
                id="conv_quiet", company_id=company, user_id="u", room_name="room", metrics={}
            )
        )
    call = CallIdentity("conv_quiet", company, uuid.uuid4(), "u")
    recorder = ConversationRecorder(url, call, "room", heartbeat=0.1)
    try:
        await recorder.start()

        async def seen() -> object:
            async with sessions() as session:
                return (await session.get(Conversation, "conv_quiet")).last_seen_at

        first = await seen()
        await poll_until(lambda: _later(seen, first), 10, "a heartbeat")
        await recorder.finish(status="success", reason="caller_hung_up")
    finally:
        await engine.dispose()


async def _later(seen, first) -> bool:
    return (await seen()) > first
