"""The Alembic migrations build, tear down and rebuild the schema on each backend."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from agent.contract import AgentConfig, CustomResponses, Privacy, TurnDetection
from control_plane.store.db import create_engine, session_factory
from control_plane.store.migrate import downgrade, is_current, upgrade
from control_plane.store.models import Base, VoiceAgent
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_agents_stored_before_the_contract_are_normalised(backend, tmp_path):
    asyncio.run(check_normalised(database_url_for(backend, tmp_path)))


async def check_normalised(url: str) -> None:
    """An agent stored at 0006 with part of its settings reads, after the upgrade, as the
    agent contract does: every key present, what it had kept."""
    engine = create_engine(url)
    company, agent = uuid.uuid4(), uuid.uuid4()
    try:
        await upgrade(engine, "0006")
        now = datetime.now(UTC)
        companies = sa.table(
            "companies", sa.column("id", sa.Uuid()), sa.column("name"), sa.column("created_at")
        )
        columns = {
            "id": agent, "company_id": company, "name": "A", "voice_id": "v",
            "language": "en", "model_id": "m", "active": True, "temperature": 0.7,
            "voice_speed": 100.0, "voice_stability": 0.5, "voice_similarity_boost": 0.5,
            "voice_style": 0.0, "output_format": "mp3_44100_128", "first_message": "Hi",
            "system_prompt": "Be brief.", "llm_model": "local", "stt_provider": "local",
            "turn_detection": {"min_silence_duration": 0.8}, "privacy": {"delete_audio": True},
            "created_at": now, "updated_at": now,
        }  # fmt: skip
        kinds = {"id": sa.Uuid(), "company_id": sa.Uuid()}
        kinds |= {"turn_detection": sa.JSON(), "privacy": sa.JSON()}
        agents = sa.table("voice_agents", *(sa.column(c, kinds.get(c)) for c in columns))
        async with engine.begin() as conn:
            await conn.execute(sa.insert(companies).values(id=company, name="C", created_at=now))
            await conn.execute(sa.insert(agents).values(**columns))
        await upgrade(engine)
        async with session_factory(engine)() as session:
            row = await session.get(VoiceAgent, agent)
            assert row is not None
            assert row.turn_detection == {
                **TurnDetection().model_dump(),
                "min_silence_duration": 0.8,
            }
            assert row.privacy == {**Privacy().model_dump(), "delete_audio": True}
            assert row.custom_responses == CustomResponses().model_dump()
            assert row.max_completion_tokens == AgentConfig().max_completion_tokens
    finally:
        await engine.dispose()
