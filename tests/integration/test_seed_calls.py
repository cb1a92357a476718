"""A real call set up the way seed 004's clients do (its create body, its start settings,
Bearer), read back the way seed 004's and seed 001's clients do: through a real
livekit-server and worker, the greeting and answer in both transcript shapes, the call's
settings honoured (no recording kept), its context in the signed `conversation.started`."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from simulator.stack import Stack
from tests.helpers import Receiver, call_once, poll_until
from tests.integration.conftest import Tenant

pytestmark = pytest.mark.integration

GREETING = "Welcome to the bakery. What would you like?"
QUESTION = "What time do you open tomorrow?"
CONTEXT = {"customer_name": "John Doe", "previous_interaction": "Product Inquiry"}


async def test_a_call_in_seed_004s_dialect_read_in_both_seeds_shapes(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant
) -> None:
    receiver = Receiver()
    hook_url = await receiver.start()
    headers = {"Authorization": f"Bearer {calls_tenant.api_key}"}
    try:
        async with httpx.AsyncClient(base_url=calls_api, headers=headers, timeout=60) as client:
            resp = await client.post(
                "/webhooks",
                json={
                    "url": hook_url,
                    "events": ["conversation.started", "conversation.ended"],
                    "secret": receiver.secret,
                },
            )
            assert resp.status_code == 201, resp.text
            resp = await client.post(
                "/voice-agents",
                json={
                    "name": "Bakery line",
                    "language": "en-US",
                    "personality": "cheerful",
                    "custom_responses": {"greeting": GREETING, "farewell": "Goodbye!"},
                },
            )
            assert resp.status_code == 201, resp.text
            agent = resp.json()
            assert agent["status"] == "active"
            resp = await client.post(
                "/conversations",
                json={
                    "agent_id": agent["agent_id"],
                    "user_id": "usr_789012",
                    "language": "en-US",
                    "initial_context": CONTEXT,
                    "settings": {"voice_speed": 1.1, "recording_enabled": False},
                },
            )
            assert resp.status_code == 201, resp.text
            started = resp.json()
            cid = started["conversation_id"]

            report = await call_once(started["connection_details"], QUESTION)
            assert report.turns[0].reply is not None

            async def ended() -> dict | None:
                body = (await client.get(f"/conversations/{cid}")).json()
                return body if body["status"] != "ongoing" else None

            history = await poll_until(ended, 60, "the call's record to be closed")
            # Seed 004's history: the greeting first, the caller's question, the answer.
            messages = history["messages"]
            assert [m["type"] for m in messages[:3]] == ["agent", "user", "agent"], messages
            assert messages[0]["content"] == GREETING
            assert "open" in messages[1]["content"].lower()
            assert len({m["id"] for m in messages}) == len(messages)
            times = [datetime.fromisoformat(m["timestamp"]) for m in messages]
            assert times == sorted(times)
            # recording_enabled false: the call kept no recording.
            assert history["audio_url"] is None

            # Seed 001's view of the same call.
            resp = await client.get(f"/v1/api/conversations/{cid}")
            assert resp.status_code == 200, resp.text
            view = resp.json()["data"]
            lines = view["transcript"]
            assert [(line["speaker"], line["text"]) for line in lines] == [
                (m["type"], m["content"]) for m in messages
            ]
            clocks = [line["timestamp"] for line in lines]
            assert all(len(c) == 8 and c[2] == c[5] == ":" for c in clocks), clocks
            assert clocks == sorted(clocks) and clocks[-1] > "00:00:00"
            assert view["status"] == "success" and view["audio_url"] is None
            resp = await client.get(f"/v1/api/conversations/{cid}/audio")
            assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND"

            await poll_until(
                lambda: receiver.events_of("conversation.ended"), 30, "conversation.ended"
            )
            (opened,) = [
                e
                for e in receiver.events_of("conversation.started")
                if e["data"]["conversation_id"] == cid
            ]
            assert opened["data"]["initial_context"] == CONTEXT
            assert opened["data"]["user_id"] == "usr_789012"
            assert 401 not in receiver.seen
    finally:
        await receiver.stop()
