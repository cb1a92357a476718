"""Async engine and sessions for the store (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from .outage import StoreUnavailableError, is_outage, unavailable

CONNECT_TIMEOUT_SECONDS = 10.0
"""How long connecting to PostgreSQL may take before the store counts as unreachable
(asyncpg's own default is a minute, during which a request would hang)."""


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An engine for `url`; SQLite files get their directory, WAL and foreign keys.
    `options` go to SQLAlchemy's `create_async_engine` (e.g. `poolclass`). A connection that
    cannot be made raises `StoreUnavailableError`."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(
            url, pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS}, **options
        )
        _name_connect_failures(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **options)
    _name_connect_failures(engine)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        # WAL: the worker reads while the control plane writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def _name_connect_failures(engine: AsyncEngine) -> None:
    """A failed connect raises `StoreUnavailableError` rather than the driver's own error
    (asyncpg raises a bare `ConnectionRefusedError`, which would read as any socket's)."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(
        dialect: Dialect, _record: ConnectionPoolEntry, cargs: list[Any], cparams: dict[str, Any]
    ) -> DBAPIConnection:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:  # refused, timed out, shutting down, wrong credentials...
            raise StoreUnavailableError(_reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:  # not the address: 503s are shown to anyone
        return os.strerror(exc.errno)
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database; `StoreUnavailableError` when it does not answer."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        if is_outage(exc):
            raise unavailable(exc) from exc
        raise


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
