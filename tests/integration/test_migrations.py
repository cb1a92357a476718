"""The Alembic migrations build, tear down and rebuild the schema on each backend."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from control_plane.store.db import create_engine
from control_plane.store.migrate import downgrade, is_current, upgrade
from control_plane.store.models import Base
from tests.integration.conftest import database_url_for

TABLES = {
    "companies",
    "api_keys",
    "voice_agents",
    "provider_keys",
    "conversations",
    "conversation_messages",
    "webhooks",
    "webhook_deliveries",
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_downgrade_upgrade(backend, tmp_path):
    asyncio.run(check_migrations(database_url_for(backend, tmp_path)))


async def check_migrations(url: str) -> None:
    engine = create_engine(url)

    async def tables() -> set[str]:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    try:
        assert not await is_current(engine)
        await upgrade(engine)
        assert await is_current(engine)
        assert await tables() >= TABLES
        await downgrade(engine)
        assert not (TABLES & await tables())
        await upgrade(engine)
        assert await tables() >= TABLES
        assert await schema_drift(engine) == []
    finally:
        await engine.dispose()


async def schema_drift(engine) -> list:
    """Differences between the migrated schema and the models (empty when they agree)."""

    def compare(connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as conn:
        return await conn.run_sync(compare)
