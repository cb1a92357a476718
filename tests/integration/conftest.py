"""Control-plane fixtures: a real server process on a real database, SQLite and PostgreSQL.

PostgreSQL comes from `TEST_POSTGRES_URL` (`make test` starts a private server with
`scripts/postgres.sh` and sets it).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from control_plane.store.db import create_engine
from simulator.stack import ROOT, ManagedProcess, control_plane_process

API_PORTS = {"sqlite": 8390, "postgresql": 8391}
FAST_WEBHOOKS = {"WEBHOOK_POLL_SECONDS": "0.1", "WEBHOOK_RETRY_BASE_SECONDS": "0.2"}
"""Retries after 0.2, 0.4, 0.8 s... instead of 2, 4, 8 s, so tests wait less."""
LOG_DIR = ROOT / ".cache" / "logs" / "tests"


def admin(database_url: str, *args: str, stdin: str | None = None) -> dict | list:
    """Run `python -m control_plane <args>` (the real admin command) and parse its JSON."""
    result = subprocess.run(
        [sys.executable, "-m", "control_plane", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"admin {args} failed: {result.stdout} {result.stderr}"
    return json.loads(result.stdout)


def _reset_postgres(url: str) -> None:
    async def reset() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


def database_url_for(backend: str, tmp_dir: Path) -> str:
    """A fresh, empty database on `backend`."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_dir / f'store-{uuid.uuid4().hex[:6]}.db'}"
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL not configured: set TEST_POSTGRES_URL (make test does)")
    _reset_postgres(url)
    return url


@dataclass
class Tenant:
    """A company and one of its API keys."""

    company_id: str
    key_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key}


@dataclass
class ApiServer:
    """A running control plane, its database and two companies."""

    backend: str
    base_url: str
    database_url: str
    process: ManagedProcess
    acme: Tenant
    globex: Tenant

    def client(self, tenant: Tenant | None = None, **kwargs) -> httpx.AsyncClient:
        headers = {**(tenant.headers if tenant else {}), **kwargs.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=60, **kwargs)

    def new_tenant(self, name: str) -> Tenant:
        created = admin(self.database_url, "create-company", name)
        return Tenant(created["company_id"], created["key_id"], created["api_key"])

    def new_user(self, tenant: Tenant, password: str, role: str = "admin") -> str:
        """A console user of `tenant` (the admin command); returns the email."""
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        created = admin(
            self.database_url,
            "create-user",
            tenant.company_id,
            email,
            "--role",
            role,
            stdin=password + "\n",
        )
        assert isinstance(created, dict) and created["email"] == email
        return email


@contextmanager
def running_api_server(
    backend: str, database_url: str, port: int, log_name: str, env: dict[str, str]
) -> Iterator[ApiServer]:
    """A control plane on `database_url` with two companies (acme, globex), stopped after."""
    process = control_plane_process(
        port, database_url=database_url, log_path=LOG_DIR / log_name, env=env
    )
    try:
        server = ApiServer(
            backend,
            f"http://127.0.0.1:{port}",
            database_url,
            process,
            None,
            None,  # type: ignore[arg-type]
        )
        server.acme = server.new_tenant("Acme")
        server.globex = server.new_tenant("Globex")
        yield server
    finally:
        process.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_server(request, tmp_path_factory, provider_env) -> Iterator[ApiServer]:
    """The control plane on each backend, with two companies (acme, globex)."""
    backend = request.param
    database_url = database_url_for(backend, tmp_path_factory.mktemp(backend))
    env = {
        "RATE_LIMIT": "100000/minute",
        # schemathesis and the isolation tests send many requests without a valid key
        "AUTH_FAILURE_LIMIT": "100000/minute",
        # the chat API's own limits (test_api_limits checks them)
        "CHAT_CONVERSATIONS_RATE_LIMIT": "100000/minute",
        "CHAT_RATE_LIMIT": "100000/minute",
        "CHAT_STREAM_RATE_LIMIT": "100000/minute",
        "CHAT_AUDIO_MAX_BYTES": str(256 * 1024),
        **FAST_WEBHOOKS,
        **provider_env,
    }
    with running_api_server(
        backend, database_url, API_PORTS[backend], f"control-plane-{backend}.log", env
    ) as server:
        yield server


@pytest.fixture(scope="module")
def sqlite_api(api_server: ApiServer) -> ApiServer:
    """For tests that do not depend on the database backend: SQLite only."""
    if api_server.backend != "sqlite":
        pytest.skip("backend-independent")
    return api_server


CALLS_API_PORT = 8393


def stack_control_plane(
    stack, store_url: str, port: int, agent_name: str, log_name: str, env: dict[str, str]
):
    """A control plane on the test worker's store, minting tokens for the test livekit-server
    that dispatch `agent_name`."""
    return control_plane_process(
        port,
        database_url=store_url,
        log_path=LOG_DIR / log_name,
        env={
            "LIVEKIT_URL": stack.config.livekit_url,
            "LIVEKIT_API_KEY": stack.key,
            "LIVEKIT_API_SECRET": stack.secret,
            "VOICE_AGENT_NAME": agent_name,
            **env,
        },
    )


@pytest.fixture(scope="module")
def calls_api(stack, store_url: str, provider_env: dict[str, str]) -> Iterator[str]:
    """The control plane on the test worker's store (and provider-keys secret): calls it
    starts reach the test worker."""
    from tests.conftest import TEST_AGENT_NAME

    process = stack_control_plane(
        stack, store_url, CALLS_API_PORT, TEST_AGENT_NAME, "control-plane-calls.log", provider_env
    )
    try:
        yield f"http://127.0.0.1:{CALLS_API_PORT}"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def calls_tenant(calls_api: str, store_url: str) -> Tenant:
    created = admin(store_url, "create-company", f"Caller Co {uuid.uuid4().hex[:4]}")
    return Tenant(created["company_id"], created["key_id"], created["api_key"])
