"""Per-agent analytics over stored calls: counts, success rate, average duration, per-turn
latency percentiles and the daily timeline, scoped to the agent's company."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import Conversation
from tests.integration.conftest import ApiServer

pytestmark = pytest.mark.integration

DAY1 = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def store_calls(database_url: str, company_id: str, agent_id: str) -> None:
    calls = [
        # created, status, seconds, per-turn voice-to-voice
        (DAY1, "success", 60, [0.8, 1.0]),
        (DAY1 + timedelta(hours=1), "failed", 30, [2.0]),
        (DAY2, "success", 90, [0.9, 1.1, 1.2]),
        (DAY2 + timedelta(hours=2), "ongoing", None, []),
    ]
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for created, status, seconds, turns in calls:
                session.add(
                    Conversation(
                        id=f"conv_{uuid.uuid4().hex}",
                        company_id=uuid.UUID(company_id),
                        agent_id=uuid.UUID(agent_id),
                        user_id="u",
                        room_name="r",
                        status=status,
                        created_at=created,
                        started_at=created,
                        ended_at=created + timedelta(seconds=seconds) if seconds else None,
                        metrics={"turns": [{"e2e_latency": v, "llm_ttft": 0.2} for v in turns]},
                    )
                )
    finally:
        await engine.dispose()


async def test_agent_analytics(api_server: ApiServer):
    tenant = api_server.new_tenant("Analytics Co")
    async with api_server.client(tenant) as client:
        agent = (await client.post("/voice-agents", json={"name": "A", "voice_id": "v"})).json()
        await store_calls(api_server.database_url, tenant.company_id, agent["id"])
        stats = (await client.get(f"/voice-agents/{agent['id']}/analytics")).json()
        assert stats["total_calls"] == 4
        assert stats["success_rate"] == round(2 / 3, 4)  # the ongoing call is not finished
        assert stats["average_duration"] == 60.0
        v2v = stats["latency"]["e2e_latency"]
        assert (v2v["p50"], v2v["p95"], v2v["samples"]) == (1.0, 2.0, 6)
        assert stats["latency"]["llm_ttft"]["p50"] == 0.2
        assert stats["timeline"] == [
            {"date": "2026-11-19", "calls": 2, "success": 1, "failed": 1, "chats": 0},
            {"date": "2026-11-20", "calls": 2, "success": 1, "failed": 0, "chats": 0},
        ]
        assert stats["total_chats"] == 0

        one_day = await client.get(
            f"/voice-agents/{agent['id']}/analytics",
            params={"date_from": "2026-11-20", "date_to": "2026-11-20T23:59:59Z"},
        )
        assert one_day.json()["total_calls"] == 2
        bad = await client.get(
            f"/voice-agents/{agent['id']}/analytics", params={"date_from": "2026-13-45"}
        )
        assert bad.status_code == 400 and "date_from" in bad.json()["detail"]

    async with api_server.client(api_server.globex) as other:
        assert (await other.get(f"/voice-agents/{agent['id']}/analytics")).status_code == 404


def test_an_agent_without_calls_has_empty_analytics(sqlite_api: ApiServer):
    async def check() -> None:
        async with sqlite_api.client(sqlite_api.acme) as client:
            agent = (await client.post("/voice-agents", json={"name": "B", "voice_id": "v"})).json()
            stats = (await client.get(f"/voice-agents/{agent['id']}/analytics")).json()
            assert stats == {
                "agent_id": agent["id"],
                "total_calls": 0,
                "total_chats": 0,
                "success_rate": None,
                "average_duration": None,
                "latency": {},
                "timeline": [],
            }

    asyncio.run(check())
