"""Several control planes on one store, at the store's level, on SQLite and PostgreSQL:
migrations started together run once; dispatchers, reapers and purges working at the same
moment each take a row once (each in its own engine: its own connections, as processes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import Any

import pytest
from sqlalchemy import Update, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from control_plane.jobs.reaper import reap
from control_plane.jobs.retention import purge
from control_plane.recordings import RecordingStore
from control_plane.schemas.voice_agents import VoiceAgentCreate
from control_plane.store.db import create_engine, session_factory
from control_plane.store.migrate import upgrade
from control_plane.store.models import (
    Company,
    Conversation,
    VoiceAgent,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from control_plane.store.repositories import WebhookDeliveryRepository
from simulator.stack import ROOT
from tests.integration.conftest import database_url_for

BACKENDS = ["sqlite", "postgresql"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_started_together_run_once(backend, tmp_path):
    """Three `migrate` commands at once on an empty store, as control planes starting
    together: all succeed, one migrates (without the migration lock, two of three failed)."""
    database_url = database_url_for(backend, tmp_path)
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "control_plane", "migrate"]
    runs = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=PIPE, stderr=STDOUT, text=True)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert sum("Running upgrade  -> 0001" in out for out in outputs) == 1, outputs


@pytest.fixture(params=BACKENDS)
async def stores(request, tmp_path) -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    """Two session factories on one fresh store, each with its own engine."""
    url = await asyncio.to_thread(database_url_for, request.param, tmp_path)
    engines = [create_engine(url), create_engine(url)]
    await upgrade(engines[0])
    try:
        yield [session_factory(engine) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


async def add_company(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    company = uuid.uuid4()
    async with sessions() as session, session.begin():
        session.add(Company(id=company, name="Busy"))
        await session.flush()
        session.add(
            Webhook(company_id=company, url="http://x", events=["*"], secret_ciphertext="x")
        )
    return company


async def test_two_dispatchers_claim_each_delivery_once(stores):
    """Two dispatchers claim in small batches and record each claimed delivery as delivered
    at once, as fast as they can, until nothing is pending: none is claimed twice (before,
    a delivery delivered between the other's read and its claim was claimed again)."""
    company = await add_company(stores[0])
    count = 120
    async with stores[0]() as session, session.begin():
        hook = await session.scalar(select(Webhook.id).where(Webhook.company_id == company))
        deliveries = WebhookDeliveryRepository(session)
        for i in range(count):
            deliveries.queue(company_id=company, webhook_id=hook, event="e", payload={"i": i})
    claimed: Counter[uuid.UUID] = Counter()

    async def dispatcher(sessions: async_sessionmaker[AsyncSession]) -> None:
        while True:
            async with sessions() as session, session.begin():
                due = await WebhookDeliveryRepository(session).claim_due(
                    now=utcnow(), lease=timedelta(seconds=30), limit=7
                )
            if not due:
                return
            claimed.update(d.id for d in due)
            for d in due:
                async with sessions() as session, session.begin():
                    assert await WebhookDeliveryRepository(session).record_attempt(
                        delivery_id=d.id,
                        claimed_until=d.claimed_until,
                        values={"status": "delivered", "locked_until": None},
                    )

    await asyncio.gather(dispatcher(stores[0]), dispatcher(stores[1]))
    assert len(claimed) == count
    assert claimed.most_common(1)[0][1] == 1, claimed.most_common(3)


class StalledSession(AsyncSession):
    """A session whose UPDATEs wait for `go`: a dispatcher stalled (descheduled, say) between
    reading the deliveries it will claim and claiming them."""

    stalled = asyncio.Event()
    go = asyncio.Event()

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(statement, Update):
            self.stalled.set()
            await self.go.wait()
        return await super().execute(statement, *args, **kwargs)


async def test_a_claim_stalled_after_reading_takes_nothing_delivered_meanwhile(stores):
    """Dispatcher B reads the due deliveries and stalls before claiming them; dispatcher A
    claims what it can and delivers it; B then claims only what A did not take (before, B
    claimed and sent again what A had delivered in between)."""
    company = await add_company(stores[0])
    async with stores[0]() as session, session.begin():
        hook = await session.scalar(select(Webhook.id).where(Webhook.company_id == company))
        for i in range(3):
            WebhookDeliveryRepository(session).queue(
                company_id=company, webhook_id=hook, event="e", payload={"i": i}
            )
    StalledSession.stalled, StalledSession.go = asyncio.Event(), asyncio.Event()
    engine_b = stores[1].kw["bind"]
    stalled = async_sessionmaker(engine_b, class_=StalledSession, expire_on_commit=False)

    async def claim(sessions: async_sessionmaker[AsyncSession]) -> list[uuid.UUID]:
        async with sessions() as session, session.begin():
            due = await WebhookDeliveryRepository(session).claim_due(
                now=utcnow(), lease=timedelta(seconds=30), limit=10
            )
        return [d.id for d in due]

    b = asyncio.create_task(claim(stalled))
    await asyncio.wait_for(StalledSession.stalled.wait(), 10)
    taken_by_a = await asyncio.wait_for(claim(stores[0]), 10)
    for delivery_id in taken_by_a:
        async with stores[0]() as session, session.begin():
            await WebhookDeliveryRepository(session).record_attempt(
                delivery_id=delivery_id,
                claimed_until=(await session.get(WebhookDelivery, delivery_id)).locked_until,
                values={"status": "delivered", "locked_until": None},
            )
    StalledSession.go.set()
    taken_by_b = await asyncio.wait_for(b, 10)
    assert not set(taken_by_a) & set(taken_by_b), (taken_by_a, taken_by_b)
    assert len(taken_by_a) + len(taken_by_b) == 3


async def test_an_expired_claim_is_not_recorded(stores):
    """A dispatcher whose lease ran out and was taken over records nothing: the delivery is
    the new claimant's."""
    company = await add_company(stores[0])
    async with stores[0]() as session, session.begin():
        hook = await session.scalar(select(Webhook.id).where(Webhook.company_id == company))
        WebhookDeliveryRepository(session).queue(
            company_id=company, webhook_id=hook, event="e", payload={}
        )
    now = utcnow()
    async with stores[0]() as session, session.begin():
        [slow] = await WebhookDeliveryRepository(session).claim_due(
            now=now, lease=timedelta(seconds=1), limit=5
        )
    async with stores[1]() as session, session.begin():  # 2 s later: the lease has passed
        [taken] = await WebhookDeliveryRepository(session).claim_due(
            now=now + timedelta(seconds=2), lease=timedelta(seconds=30), limit=5
        )
    assert taken.id == slow.id
    for claim, expected in ((slow, False), (taken, True)):
        async with stores[0]() as session, session.begin():
            recorded = await WebhookDeliveryRepository(session).record_attempt(
                delivery_id=claim.id,
                claimed_until=claim.claimed_until,
                values={"status": "delivered", "locked_until": None},
            )
        assert recorded is expected


async def test_two_reapers_close_each_lost_call_once(stores):
    """Both reapers at the same moment, three rounds each: each lost call is failed once and
    its `conversation.failed` queued once."""
    company = await add_company(stores[0])
    seen = utcnow() - timedelta(minutes=5)
    ids = [f"conv_{i}" for i in range(30)]
    async with stores[0]() as session, session.begin():
        for conversation_id in ids:
            session.add(
                Conversation(
                    id=conversation_id,
                    company_id=company,
                    user_id="u",
                    room_name=conversation_id,
                    status="ongoing",
                    created_at=seen,
                    started_at=seen,
                    last_seen_at=seen,
                    metrics={},
                )
            )

    async def rounds(sessions: async_sessionmaker[AsyncSession]) -> int:
        return sum([await reap(sessions, stale_seconds=45, join_seconds=600) for _ in range(3)])

    closed = await asyncio.gather(rounds(stores[0]), rounds(stores[1]))
    assert sum(closed) == len(ids), closed
    async with stores[0]() as session:
        queued = await session.scalar(
            select(func.count()).where(WebhookDelivery.event == "conversation.failed")
        )
        failed = await session.scalar(
            select(func.count()).where(
                Conversation.status == "failed", Conversation.end_reason == "worker_lost"
            )
        )
    assert (queued, failed) == (len(ids), len(ids))


async def test_two_purges_delete_each_expired_call_once(stores, tmp_path: Path):
    """Both purges at the same moment: the expired calls and their recordings go, and the
    two counts add up to each once."""
    company = await add_company(stores[0])
    store = RecordingStore(str(tmp_path / "recordings"))
    old = utcnow() - timedelta(days=3)
    ids = [f"conv_old_{i}" for i in range(20)]
    source = tmp_path / "source.ogg"
    source.write_bytes(b"OggS")
    async with stores[0]() as session, session.begin():
        values = VoiceAgentCreate(
            name="Brief", voice_id="v", privacy={"retention_days": 1}
        ).model_dump(mode="json")
        agent = VoiceAgent(company_id=company, **values)
        session.add(agent)
        await session.flush()
        for conversation_id in ids:
            store.put(f"{conversation_id}.ogg", source)
            session.add(
                Conversation(
                    id=conversation_id,
                    company_id=company,
                    agent_id=agent.id,
                    user_id="u",
                    room_name=conversation_id,
                    status="success",
                    created_at=old,
                    recording=f"{conversation_id}.ogg",
                    metrics={},
                )
            )

    async def once(sessions: async_sessionmaker[AsyncSession]):
        async with sessions() as session:
            return await purge(session, store)

    first, second = await asyncio.gather(once(stores[0]), once(stores[1]))
    assert first.conversations + second.conversations == len(ids), (first, second)
    assert first.recordings + second.recordings == len(ids), (first, second)
    async with stores[0]() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0
    assert not any(store.exists(f"{i}.ogg") for i in ids)
