"""Two control-plane processes on one PostgreSQL, each running the webhook dispatcher, the
reaper and the retention purge: every event is delivered once, every lost call closed and
reported once, every expired call purged once; and a control plane killed while it holds
claimed deliveries loses none of them (the other delivers them once their lease has passed).
The same claims on SQLite, and at the same moment, are tested in `test_store_concurrency`."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from aiohttp import web
from sqlalchemy import func, select

from control_plane.jobs.webhooks import enqueue
from control_plane.recordings import RecordingStore
from control_plane.schemas.voice_agents import VoiceAgentCreate
from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import Conversation, VoiceAgent, WebhookDelivery, utcnow
from simulator.stack import ManagedProcess, control_plane_process, stop_together
from tests.helpers import poll_until
from tests.integration.conftest import LOG_DIR, Tenant, admin, database_url_for

pytestmark = pytest.mark.integration

PORTS = (8396, 8397)
LEASE_SECONDS = 5.0
TIMEOUT_SECONDS = 4.0
"""A delivery may take 4 s, its claim lasts 5 s: a killed dispatcher's claims free up soon."""


@dataclass
class CountingReceiver:
    """A webhook receiver that counts each delivery's arrivals (by `X-Delivery-Id`); with
    `hold` set it keeps requests open (a receiver still working on them) until released."""

    arrivals: list[tuple[str, str, float]] = field(default_factory=list)
    """(delivery id, event, arrival time) of each request."""
    peers: dict[str, int] = field(default_factory=dict)
    """The port each delivery was last sent from (which process sent it)."""
    payloads: list[dict] = field(default_factory=list)
    hold: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.arrivals.append((request.headers["X-Delivery-Id"], payload["event"], time.monotonic()))
        self.payloads.append(payload)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers[request.headers["X-Delivery-Id"]] = peer[1] if peer else 0
        if self.hold:
            await self.released.wait()
        return web.Response(status=200)

    def counts(self, event: str | None = None) -> Counter[str]:
        return Counter(d for d, e, _ in self.arrivals if event is None or e == event)

    async def __aenter__(self) -> CountingReceiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.released.set()
        assert self.runner is not None
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


async def stays(probe: Callable[[], bool], seconds: float, what: str) -> None:
    """Check for `seconds` that `probe` keeps holding (nothing more arrives); fail if not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert probe(), what
        await asyncio.sleep(0.05)
    assert probe(), what


@dataclass
class Pair:
    """Two control planes on one store, and a company of theirs."""

    database_url: str
    recordings: Path
    processes: list[ManagedProcess]
    urls: tuple[str, str]
    tenant: Tenant

    def client(self, which: int = 0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.urls[which], headers=self.tenant.headers, timeout=30)

    async def in_store(self, action: Callable[..., Awaitable[object]]) -> object:
        engine = create_engine(self.database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                return await action(session)
        finally:
            await engine.dispose()

    def logs(self) -> str:
        return "".join(p.log_path.read_text(errors="replace") for p in self.processes)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, provider_env) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("scale")
    database_url = database_url_for("postgresql", tmp)
    recordings = tmp / "recordings"
    env = {
        **provider_env,
        "RECORDINGS_URL": str(recordings),
        "WEBHOOK_POLL_SECONDS": "0.1",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
        "REAPER_INTERVAL_SECONDS": "0.2",
        "RETENTION_INTERVAL_SECONDS": "0.3",
    }
    processes: list[ManagedProcess] = []

    def start(port: int) -> None:
        log_path = LOG_DIR / f"control-plane-scale-{port}.log"
        processes.append(
            control_plane_process(port, database_url=database_url, log_path=log_path, env=env)
        )

    try:
        for port in PORTS:  # one after the other: each start's wait is bounded
            start(port)
        created = admin(database_url, "create-company", "Scaled")
        tenant = Tenant(created["company_id"], created["key_id"], created["api_key"])
        urls = (f"http://127.0.0.1:{PORTS[0]}", f"http://127.0.0.1:{PORTS[1]}")
        yield Pair(database_url, recordings, processes, urls, tenant)
    finally:
        stop_together(processes)


@pytest.fixture
async def receiver() -> AsyncIterator[CountingReceiver]:
    async with CountingReceiver() as r:
        yield r


async def subscribe(pair: Pair, receiver: CountingReceiver, events: list[str]) -> str:
    async with pair.client() as client:
        resp = await client.post("/webhooks", json={"url": receiver.url, "events": events})
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]


async def unsubscribe(pair: Pair, webhook_id: str) -> None:
    async with pair.client() as client:
        assert (await client.delete(f"/webhooks/{webhook_id}")).status_code == 204


async def test_each_event_is_delivered_once_by_two_dispatchers(
    pair: Pair, receiver: CountingReceiver
):
    """Agents created through both control planes at once: each `agent.created` reaches the
    receiver once, though both dispatchers claim from the same outbox all along."""
    hook = await subscribe(pair, receiver, ["agent.created"])
    count = 40
    async with pair.client(0) as first, pair.client(1) as second:

        async def create(i: int) -> str:
            client = (first, second)[i % 2]
            resp = await client.post("/voice-agents", json={"name": f"A{i}", "voice_id": "v"})
            assert resp.status_code == 201, resp.text
            return resp.json()["id"]

        created = set(await asyncio.gather(*(create(i) for i in range(count))))
    await poll_until(
        lambda: len(receiver.counts("agent.created")) == count, 60, f"{count} deliveries"
    )
    await stays(lambda: len(receiver.arrivals) == count, 1.5, f"a duplicate: {receiver.counts()}")
    assert {p["data"]["id"] for p in receiver.payloads} == created
    assert set(receiver.counts().values()) == {1}
    # Each delivery has exactly the one attempt that reached the receiver.
    async with pair.client() as client:
        rows = (await client.get(f"/webhooks/{hook}/deliveries", params={"limit": 100})).json()
    assert len(rows) == count
    assert {r["status"] for r in rows} == {"delivered"}
    assert {len(r["attempts"]) for r in rows} == {1}
    await unsubscribe(pair, hook)


async def test_each_lost_call_is_closed_and_reported_once_by_two_reapers(
    pair: Pair, receiver: CountingReceiver
):
    """Calls whose worker is gone: both reapers see them, each is failed and its
    `conversation.failed` sent once."""
    hook = await subscribe(pair, receiver, ["conversation.failed"])
    company = uuid.UUID(pair.tenant.company_id)
    ids = [f"conv_lost_{uuid.uuid4().hex[:8]}" for _ in range(20)]
    seen = utcnow() - timedelta(minutes=5)

    async def add_lost(session) -> None:
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

    await pair.in_store(add_lost)
    await poll_until(
        lambda: len(receiver.counts("conversation.failed")) == len(ids), 30, "every call failed"
    )
    await stays(
        lambda: len(receiver.arrivals) == len(ids), 1.5, f"a duplicate: {receiver.counts()}"
    )
    assert {p["data"]["conversation_id"] for p in receiver.payloads} == set(ids)
    assert {p["data"]["end_reason"] for p in receiver.payloads} == {"worker_lost"}

    async def events_queued(session) -> int:
        query = select(func.count()).where(
            WebhookDelivery.company_id == company, WebhookDelivery.event == "conversation.failed"
        )
        return int(await session.scalar(query) or 0)

    assert await pair.in_store(events_queued) == len(ids)
    await unsubscribe(pair, hook)


PURGED = re.compile(r"retention purge: Purged\(conversations=(\d+), recordings=(\d+)")


async def test_each_expired_call_is_purged_once_by_two_purges(pair: Pair):
    """Calls older than their agent's retention: both purges run every 0.3 s, the calls and
    their recordings go, and the two together count each once."""
    company = uuid.UUID(pair.tenant.company_id)
    store = RecordingStore(str(pair.recordings))
    old = utcnow() - timedelta(days=3)
    ids = [f"conv_old_{uuid.uuid4().hex[:8]}" for _ in range(12)]
    for conversation_id in ids:
        source = pair.recordings.parent / f"{conversation_id}.ogg"
        source.write_bytes(b"OggS recording")
        store.put(f"{conversation_id}.ogg", source)

    async def add_expired(session) -> None:
        values = VoiceAgentCreate(
            name="Forgetful", voice_id="v", privacy={"retention_days": 1}
        ).model_dump(mode="json")
        agent = VoiceAgent(company_id=company, **values)
        session.add(agent)
        await session.flush()
        for conversation_id in ids:
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

    async def left(session) -> int:
        query = select(func.count()).where(Conversation.id.in_(ids))
        return int(await session.scalar(query) or 0)

    await pair.in_store(add_expired)
    await poll_until(lambda: _zero(pair.in_store(left)), 30, "the expired calls to be deleted")
    assert not any(store.exists(f"{i}.ogg") for i in ids)

    def counted() -> tuple[int, int]:
        found = PURGED.findall(pair.logs())
        return sum(int(c) for c, _ in found), sum(int(r) for _, r in found)

    await poll_until(lambda: counted() == (len(ids), len(ids)), 10, "both purges' reports")
    await stays(lambda: counted() == (len(ids), len(ids)), 1.0, f"counted twice: {counted()}")


async def _zero(count: Awaitable[object]) -> bool:
    return await count == 0


async def test_a_killed_dispatchers_claims_are_delivered_by_the_other(
    pair: Pair, receiver: CountingReceiver
):
    """The receiver holds every request; the control plane holding the claims is killed
    (SIGKILL). The other delivers them once their lease has passed, each once more, and
    the store shows each delivered by the survivor's one recorded attempt."""
    hook = await subscribe(pair, receiver, ["agent.updated"])
    receiver.hold = True
    company = uuid.UUID(pair.tenant.company_id)
    count = 5

    async def queue(session) -> None:  # one transaction: one round claims them all
        for i in range(count):
            await enqueue(session, company, "agent.updated", {"id": str(i), "changed": []})

    await pair.in_store(queue)
    await poll_until(lambda: len(receiver.arrivals) == count, 10, "every delivery sent")
    senders = {which: _client_ports(process) for which, process in enumerate(pair.processes)}
    held = {which: {d for d, port in receiver.peers.items() if port in ports}
            for which, ports in senders.items()}  # fmt: skip
    assert held[0] | held[1] == set(receiver.counts()), (senders, receiver.peers)
    killed = 0 if held[0] else 1
    survivor = 1 - killed
    pair.processes[killed].kill()  # with its claims held
    receiver.hold = False
    receiver.released.set()  # the survivor's own requests are answered now

    await poll_until(
        lambda: all(receiver.counts()[d] == 2 for d in held[killed]),
        30,
        "the survivor delivering what the killed one held",
    )
    first = {d: t for d, _, t in receiver.arrivals[:count]}
    again = {d: t for d, _, t in receiver.arrivals[count:]}
    assert set(again) == held[killed]
    # Taken over only once the claims had expired (they were made just before sending).
    assert min(again.values()) >= min(first.values()) + LEASE_SECONDS - 0.5
    async with pair.client(survivor) as client:
        rows = (await client.get(f"/webhooks/{hook}/deliveries")).json()
    assert len(rows) == count
    assert {r["status"] for r in rows} == {"delivered"}
    assert {len(r["attempts"]) for r in rows} == {1}  # the killed one recorded nothing
    await stays(
        lambda: len(receiver.arrivals) == count + len(held[killed]), 1.0, "one delivery more"
    )


def _client_ports(process: ManagedProcess) -> set[int]:
    """The local ports of a process's TCP connections (its requests to the receiver)."""
    assert process.proc is not None
    return {c.laddr.port for c in psutil.Process(process.proc.pid).net_connections("tcp")}
