"""Apply the store's Alembic migrations (at start-up or from the command line)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x766F6963
"""PostgreSQL advisory lock held while migrating (any number; this one is ours)."""


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest). Control planes starting
    together each call this: one migrates, the others wait for it, then have nothing to do."""
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    """Take the database back to `revision` (default: empty)."""
    await _run(engine, command.downgrade, revision)


async def _run(
    engine: AsyncEngine, alembic_command: Callable[[Config, str], None], rev: str
) -> None:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        alembic_command(cfg, rev)

    async with _one_at_a_time(engine), engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # released when the migration commits
            await connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        await connection.run_sync(run)


@contextlib.asynccontextmanager
async def _one_at_a_time(engine: AsyncEngine) -> AsyncIterator[None]:
    """On a SQLite file, a lock file beside it held while migrating (SQLite runs DDL outside
    the transaction, where two migrations at once failed with `table already exists`);
    PostgreSQL's lock is taken in the migration's own transaction."""
    database = make_url(str(engine.url)).database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock = await asyncio.to_thread(_lock_file, Path(f"{database}.migration-lock"))
    try:
        yield
    finally:
        os.close(lock)  # releases the lock


def _lock_file(path: Path) -> int:
    """`path` opened (created if need be) and locked, waiting for whoever holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database is at the newest revision."""

    def check(connection: Connection) -> bool:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        return MigrationContext.configure(connection).get_current_revision() == head

    async with engine.connect() as connection:
        return await connection.run_sync(check)
