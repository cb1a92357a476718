"""The store and Redis failing, on a PostgreSQL server this module starts, stops and starts
again itself (not the suite's shared one): a control plane that cannot reach them at start
says so in one line; one that loses the database answers 503 naming it and recovers by
itself; a call in progress goes on and its record is written when the database is back."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent_worker.recorder import CallIdentity, ConversationRecorder
from control_plane.store.db import create_engine, session_factory
from control_plane.store.migrate import upgrade
from control_plane.store.models import Company, Conversation
from control_plane.store.repositories import ConversationRepository
from simulator.stack import ROOT, control_plane_process
from tests.helpers import Receiver, poll_until
from tests.integration.conftest import FAST_WEBHOOKS, LOG_DIR, admin
from tests.integration.test_startup_errors import assert_one_line_error, run

pytestmark = pytest.mark.integration

PORT = 8375


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class OwnPostgres:
    """A PostgreSQL server of this module's own (`scripts/postgres.sh`)."""

    directory: Path
    port: int

    def _script(self, command: str) -> str:
        env = {**os.environ, "PG_DIR": str(self.directory), "PG_PORT": str(self.port)}
        result = subprocess.run(
            [str(ROOT / "scripts" / "postgres.sh"), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        return result.stdout.strip()

    @property
    def url(self) -> str:
        return self._script("url")

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> Iterator[OwnPostgres]:
    server = OwnPostgres(tmp_path_factory.mktemp("own-postgres"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_unreachable_database_at_start_is_one_line():
    port = free_port()  # nothing listens there
    result = run(
        "control_plane",
        "serve",
        env={"DATABASE_URL": f"postgresql+asyncpg://voice:secret@127.0.0.1:{port}/db"},
    )
    assert_one_line_error(
        result, "the database at", f"127.0.0.1:{port}", "is unreachable", "DATABASE_URL"
    )
    assert "secret" not in result.stderr


def test_unreachable_redis_at_start_is_one_line(tmp_path: Path):
    port = free_port()
    result = run(
        "control_plane",
        "serve",
        env={
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        },
    )
    assert_one_line_error(result, "Redis at", f"127.0.0.1:{port}", "unreachable", "REDIS_URL")


async def test_the_database_lost_while_running_is_a_503_until_it_returns(
    postgres: OwnPostgres, provider_env
):
    """Every route touching the store answers 503 naming the database (not 500), `/health`
    too; once the database is back the same requests succeed and the webhook dispatcher,
    which waited, delivers again."""
    url = postgres.url
    process = await asyncio.to_thread(
        control_plane_process,
        PORT,
        database_url=url,
        log_path=LOG_DIR / "control-plane-store-faults.log",
        env={**FAST_WEBHOOKS, **provider_env},
    )
    receiver = Receiver()
    await receiver.start()
    try:
        created = await asyncio.to_thread(admin, url, "create-company", "Outage")
        headers = {"x-api-key": created["api_key"]}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=30) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            resp = await client.post(
                "/webhooks",
                headers=headers,
                json={"url": receiver.url, "events": ["agent.created"], "secret": Receiver.secret},
            )
            assert resp.status_code == 201, resp.text

            await asyncio.to_thread(postgres.stop)
            for method, path, key in [
                ("GET", "/voice-agents", headers),
                ("POST", "/voice-agents", headers),
                ("GET", "/conversations", headers),
                ("GET", "/voice-agents", {"x-api-key": "not-a-key"}),  # its check needs the store
            ]:
                body = {"name": "Down", "voice_id": "v"} if method == "POST" else None
                resp = await client.request(method, path, headers=key, json=body)
                assert resp.status_code == 503, (method, path, resp.text)
                detail = resp.json()["detail"]
                assert detail.startswith("the database is unreachable: "), detail
                assert detail.endswith("retry later") and resp.headers["Retry-After"]
            resp = await client.get("/health")
            assert resp.status_code == 503
            assert resp.json()["detail"].startswith("the database is unreachable")
            await poll_until(
                lambda: process.log_contains("webhook delivery: the database is unreachable"),
                10,
                "the dispatcher noticing the outage",
            )

            await asyncio.to_thread(postgres.start)
            await poll_until(lambda: _healthy(client), 30, "/health once the database is back")
            assert (await client.get("/voice-agents", headers=headers)).status_code == 200
            agent = {"name": "Back", "voice_id": "v"}
            resp = await client.post("/voice-agents", headers=headers, json=agent)
            assert resp.status_code == 201, resp.text
            await poll_until(
                lambda: receiver.events_of("agent.created"), 30, "a delivery after the outage"
            )
        log = process.log_path.read_text()
        assert log.count("answering 503") == 1  # once a minute, not once a request
        assert log.count("webhook delivery: the database is unreachable") == 1
        assert "webhook delivery: the database answers again" in log
        assert "Traceback" not in log
    finally:
        await receiver.stop()
        process.stop()


async def _healthy(client: httpx.AsyncClient) -> bool:
    return (await client.get("/health")).status_code == 200


@pytest.fixture
async def call_record(postgres: OwnPostgres) -> AsyncIterator[tuple[str, CallIdentity]]:
    """A call's record as `POST /conversations` leaves it, on the module's PostgreSQL."""
    url = postgres.url
    engine = create_engine(url)
    await upgrade(engine)
    company = uuid.uuid4()
    conversation_id = f"conv_{uuid.uuid4().hex[:8]}"
    async with session_factory(engine)() as session, session.begin():
        session.add(Company(id=company, name="On a call"))
        await session.flush()
        session.add(
            Conversation(
                id=conversation_id, company_id=company, user_id="u", room_name="r", metrics={}
            )
        )
    await engine.dispose()
    yield url, CallIdentity(conversation_id, company, uuid.uuid4(), "u")


async def said(url: str, conversation_id: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await ConversationRepository(session).messages(conversation_id=conversation_id)
            return [m.text for m in rows]
    finally:
        await engine.dispose()


def say(recorder: ConversationRecorder, text: str) -> None:
    recorder.message(
        speaker="user", text=text, interrupted=False, created_at=time.time(), metrics={}
    )


async def test_a_call_goes_on_while_the_store_is_away(postgres, call_record, caplog):
    """The database goes away mid-call: what is said meanwhile waits, in order, and is
    written when it is back; the outage is logged once, and its end."""
    caplog.set_level(logging.INFO, logger="agent_worker.recorder")
    url, call = call_record
    recorder = ConversationRecorder(url, call, "r", heartbeat=0.2)
    assert await recorder.start()
    say(recorder, "one")
    await poll_until(lambda: _equals(said(url, call.conversation_id), ["one"]), 10, "one")

    await asyncio.to_thread(postgres.stop)
    say(recorder, "two")
    say(recorder, "three")
    await poll_until(
        lambda: "the database is unreachable" in caplog.text, 10, "the recorder noticing"
    )
    await asyncio.to_thread(postgres.start)
    await poll_until(
        lambda: _equals(said(url, call.conversation_id), ["one", "two", "three"]),
        30,
        "what was said during the outage",
    )
    await recorder.finish(status="success", reason="caller_hung_up")

    engine = create_engine(url)
    async with session_factory(engine)() as session:
        row = await session.get(Conversation, call.conversation_id)
    await engine.dispose()
    assert row is not None and (row.status, row.end_reason) == ("success", "caller_hung_up")
    assert caplog.text.count("the database is unreachable") == 1  # not once per try or beat
    assert caplog.text.count("the database answers again") == 1


async def test_a_record_waits_a_while_after_the_call_then_says_what_is_lost(
    postgres, call_record, caplog
):
    """The call ends while the database is away and does not return in `finish_grace`: the
    end of the call is not held up longer, and the log says what the record misses."""
    url, call = call_record
    recorder = ConversationRecorder(url, call, "r", finish_grace=1.0)
    assert await recorder.start()
    await asyncio.to_thread(postgres.stop)
    try:
        say(recorder, "lost")
        started = time.monotonic()
        await asyncio.wait_for(
            recorder.finish(status="success", reason="caller_hung_up"), timeout=20
        )
        assert time.monotonic() - started < 15
        assert "its record misses 1 message(s) and its end" in caplog.text
    finally:
        await asyncio.to_thread(postgres.start)


async def _equals(value, expected) -> bool:
    return await value == expected
