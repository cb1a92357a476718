"""Rate limits across control planes: with `REDIS_URL` two control planes count a key's
requests together (3 to one and 2 to the other use up 5/minute); without it each counts its
own. Redis lost while running: requests are still answered, limited per process, `/health`
names Redis, one warning each; Redis back: the limit is shared again."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from control_plane.store.db import create_engine, session_factory
from control_plane.store.migrate import upgrade
from control_plane.store.repositories import ApiKeyRepository, CompanyRepository
from simulator.stack import ManagedProcess, control_plane_process, redis_process, stop_together
from tests.helpers import poll_until
from tests.integration.conftest import LOG_DIR, database_url_for

pytestmark = pytest.mark.integration

SHARED_PORTS = (8376, 8377)
OWN_PORTS = (8378, 8379)
LIMIT = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    return database_url_for("sqlite", tmp_path_factory.mktemp("limits"))


@dataclass
class Redis:
    """The test's own Redis server, which a test may stop and start again (empty)."""

    port: int
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = redis_process(self.port, log_path=LOG_DIR / "redis-limits.log")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.process = None


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    server = Redis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def control_planes(
    ports: tuple[int, ...], database_url: str, name: str, env: dict[str, str]
) -> list[ManagedProcess]:
    started: list[ManagedProcess] = []
    try:
        for port in ports:
            started.append(
                control_plane_process(
                    port,
                    database_url=database_url,
                    log_path=LOG_DIR / f"control-plane-{name}-{port}.log",
                    env={"RATE_LIMIT": f"{LIMIT}/minute", **env},
                )
            )
    except BaseException:
        stop_together(started)
        raise
    return started


@pytest.fixture(scope="module")
def shared(database_url: str, redis: Redis) -> Iterator[list[ManagedProcess]]:
    env = {"REDIS_URL": redis.url}
    processes = control_planes(SHARED_PORTS, database_url, "limits-shared", env)
    yield processes
    stop_together(processes)


async def new_key(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            company = await CompanyRepository(session).create(name=f"Busy {uuid.uuid4().hex[:4]}")
            issued = await ApiKeyRepository(session).issue(company_id=company.id)
        return {"x-api-key": issued.key}
    finally:
        await engine.dispose()


async def codes(port: int, key: dict[str, str], count: int) -> list[int]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=key) as client:
        return [(await client.get("/voice-agents")).status_code for _ in range(count)]


async def health(port: int) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        return await client.get("/health")


async def assert_shared(ports: tuple[int, int], key: dict[str, str]) -> None:
    """3 requests to one and 2 to the other use up the limit for both."""
    a, b = ports
    assert await codes(a, key, 3) + await codes(b, key, 2) == [200] * LIMIT
    assert await codes(a, key, 1) == [429]
    assert await codes(b, key, 1) == [429]


async def test_limits_are_shared_through_redis(shared, database_url: str):
    await assert_shared(SHARED_PORTS, await new_key(database_url))
    for port in SHARED_PORTS:
        resp = await health(port)
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}


async def test_without_redis_each_control_plane_counts_its_own(database_url: str):
    processes = control_planes(OWN_PORTS, database_url, "limits-own", {})
    try:
        key = await new_key(database_url)
        a, b = OWN_PORTS
        assert await codes(a, key, LIMIT) == [200] * LIMIT
        assert await codes(b, key, LIMIT) == [200] * LIMIT
        assert await codes(a, key, 1) == [429]
        assert await codes(b, key, 1) == [429]
    finally:
        stop_together(processes)


async def test_redis_lost_then_back(shared, database_url: str, redis: Redis):
    """While Redis is down each control plane limits on its own (failing open would drop the
    brake on key guessing, failing closed would stop the API); once it is back, together."""
    redis.stop()
    key = await new_key(database_url)
    a, b = SHARED_PORTS
    assert await codes(a, key, LIMIT) == [200] * LIMIT
    assert await codes(b, key, LIMIT) == [200] * LIMIT  # counted apart meanwhile
    assert await codes(a, key, 1) == [429]
    resp = await health(a)
    assert resp.status_code == 503
    assert resp.json()["detail"].startswith("Redis is unreachable: Connection refused")
    for process in shared:  # once, not once per request
        assert process.log_path.read_text().count("Redis is unreachable") == 1

    redis.start()
    for port, process in zip(SHARED_PORTS, shared, strict=True):
        await poll_until(lambda p=port: _healthy(p), 20, "/health once Redis is back")
        probe = await new_key(database_url)
        await poll_until(
            lambda p=port, k=probe, proc=process: _counted_in_redis(p, k, proc),
            20,
            "the limiter back on Redis",
        )
    await assert_shared(SHARED_PORTS, await new_key(database_url))


async def _healthy(port: int) -> bool:
    return (await health(port)).status_code == 200


async def _counted_in_redis(port: int, key: dict[str, str], process: ManagedProcess) -> bool:
    """One request; whether the control plane has said its limiter is on Redis again."""
    await codes(port, key, 1)
    return process.log_contains("Redis answers again")
