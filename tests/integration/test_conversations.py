"""Every call started through the API leaves a record: created with the call, each message
stored as it is said, closed with how the call ended; listed, read and deleted per company."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from simulator.stack import Stack
from tests.helpers import Receiver, call_once, poll_until
from tests.integration.conftest import Tenant, admin

pytestmark = pytest.mark.integration

GREETING = "Welcome to the bakery. What would you like?"
QUESTION = "What time do you open tomorrow?"


async def test_a_call_leaves_its_record_and_transcript(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant, store_url: str
) -> None:
    receiver = Receiver()
    hook_url = await receiver.start()
    try:
        await check_call_record(calls_api, calls_tenant, store_url, receiver, hook_url)
    finally:
        await receiver.stop()


async def check_call_record(
    calls_api: str, calls_tenant: Tenant, store_url: str, receiver: Receiver, hook_url: str
) -> None:
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        resp = await client.post(
            "/webhooks",
            json={
                "url": hook_url,
                "events": [
                    "conversation.started", "message.received", "conversation.ended",
                    "conversation.failed",
                ],
                "secret": receiver.secret,
            },
        )  # fmt: skip
        assert resp.status_code == 201, resp.text
        agent = (
            await client.post(
                "/voice-agents",
                json={
                    "name": "Recorded line",
                    "voice_id": "local:en_US-joe-medium",
                    "active": True,
                    "first_message": GREETING,
                },
            )
        ).json()
        resp = await client.post(
            "/conversations", json={"agent_id": agent["id"], "user_id": "caller-42"}
        )
        assert resp.status_code == 201, resp.text
        started = resp.json()
        conversation_id = started["conversation_id"]

        # The record exists as soon as the call is set up.
        record = (await client.get(f"/conversations/{conversation_id}")).json()
        assert record["status"] == "ongoing" and record["transcript"] == []
        assert record["agent_id"] == agent["id"] and record["user_id"] == "caller-42"

        report = await call_once(started["connection_details"], QUESTION)
        assert report.turns[0].reply is not None

        async def ended() -> dict | None:
            body = (await client.get(f"/conversations/{conversation_id}")).json()
            return body if body["status"] != "ongoing" else None

        record = await poll_until(ended, 60, "the call's record to be closed")
        assert record["status"] == "success"
        assert record["end_reason"] == "caller_hung_up"
        assert record["started_at"] and record["ended_at"]
        assert 1.0 < record["duration"] < 120

        transcript = record["transcript"]
        speakers = [m["speaker"] for m in transcript]
        assert speakers[:3] == ["agent", "user", "agent"], transcript
        assert transcript[0]["text"] == GREETING
        assert "open" in transcript[1]["text"].lower()
        assert transcript[2]["text"].strip()
        times = [m["timestamp"] for m in transcript]
        assert times == sorted(times)
        # Per-turn latency of the answered turn, with its percentiles.
        assert record["metrics"]["turns"]
        assert "p50" in next(v for k, v in record["metrics"].items() if k != "turns")

        # The company's webhook heard the call as it happened, signed.
        await poll_until(lambda: receiver.events_of("conversation.ended"), 30, "conversation.ended")
        ours = [e for e in receiver.events if e["data"]["conversation_id"] == conversation_id]
        kinds = [e["event"] for e in ours]
        assert kinds[0] == "conversation.started" and kinds[-1] == "conversation.ended"
        said = [e["data"]["text"] for e in ours if e["event"] == "message.received"]
        assert said == [m["text"] for m in transcript]
        ended = ours[-1]["data"]
        assert ended["end_reason"] == "caller_hung_up" and ended["duration"] > 1.0
        assert 401 not in receiver.seen

        # Listing and its filters.
        listed = (await client.get("/conversations", params={"agent_id": agent["id"]})).json()
        assert [c["id"] for c in listed["conversations"]] == [conversation_id]
        assert listed["total"] == 1
        assert (await client.get("/conversations", params={"status": "failed"})).json()[
            "total"
        ] == 0
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        before = (await client.get("/conversations", params={"date_to": past})).json()
        assert before["total"] == 0
        resp = await client.get("/conversations", params={"status": "bogus"})
        assert resp.status_code == 400 and "status" in resp.json()["detail"]

    # Another company sees nothing of it.
    other = admin(store_url, "create-company", "Nosy Inc")
    async with httpx.AsyncClient(
        base_url=calls_api, headers={"x-api-key": other["api_key"]}
    ) as client:
        assert (await client.get(f"/conversations/{conversation_id}")).status_code == 404
        assert (await client.delete(f"/conversations/{conversation_id}")).status_code == 404
        assert (await client.get("/conversations")).json()["total"] == 0

    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        assert (await client.delete(f"/conversations/{conversation_id}")).status_code == 204
        assert (await client.get(f"/conversations/{conversation_id}")).status_code == 404
