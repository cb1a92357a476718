"""Apply the store's Alembic migrations (at start-up or from the command line)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest)."""
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

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database is at the newest revision."""

    def check(connection: Connection) -> bool:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        return MigrationContext.configure(connection).get_current_revision() == head

    async with engine.connect() as connection:
        return await connection.run_sync(check)
