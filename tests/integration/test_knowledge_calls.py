"""Knowledge on a real call: a caller asks what only the agent's knowledge base answers and
hears the answer; the worker searches the store the control plane ingested into."""

from __future__ import annotations

import httpx
import pytest

from simulator.stack import Stack
from simulator.transcribe import HeardTranscriber
from tests.helpers import call_once, poll_until, words
from tests.integration.conftest import Tenant

pytestmark = pytest.mark.integration

RETURNS = (
    "You can return any item within 30 days of delivery for a full refund. Items must be "
    "unused and in their original packaging."
)
QUESTION = "How many days do I have to return an item?"


async def test_a_caller_hears_the_answer_from_the_knowledge_base(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant
) -> None:
    auth = {"Authorization": f"Bearer {calls_tenant.api_key}"}
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        agent = (
            await client.post(
                "/voice-agents",
                json={
                    "name": "Shop line",
                    "voice_id": "local:en_US-joe-medium",
                    "active": True,
                    # Greedy decoding: the embedded model answers the same words each run.
                    "temperature": 0.0,
                    "first_message": "Hello, this is the shop. How can I help?",
                },
            )
        ).json()
        added = await client.post(
            "/v1/api/knowledge-base/text",
            json={"agent_id": agent["id"], "title": "Returns and refunds", "content": RETURNS},
            headers=auth,
        )
        assert added.status_code == 201, added.text
        item_id = added.json()["data"]["id"]

        async def ready() -> dict | None:
            item = (await client.get(f"/v1/api/knowledge-base/{item_id}", headers=auth)).json()
            return item["data"] if item["data"]["status"] == "ready" else None

        await poll_until(ready, 60, "the returns policy to be ingested")

        started = await client.post(
            "/conversations", json={"agent_id": agent["id"], "user_id": "caller-kb"}
        )
        assert started.status_code == 201, started.text
        report = await call_once(started.json()["connection_details"], QUESTION)
    report = await HeardTranscriber().fill(report)
    reply = report.turns[0].reply
    assert reply is not None, "no answer heard"
    heard = words(reply.transcript)
    assert {"30", "thirty"} & heard, reply.transcript
    worker = idle_stack.processes["worker"]
    assert worker.log_contains("knowledge: 1 passage(s) for the caller's words")
