"""Tools on a real call: the caller asks to book, the model (the fake OpenAI, through the real
plugin) calls the agent's HTTP tool, the tool server receives the arguments with the agent's
secret header, the caller hears the confirmation, the call's record and a webhook say so."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from fake_providers.openai import FakeOpenAI
from simulator.stack import Stack
from simulator.transcribe import HeardTranscriber
from tests.conftest import OPENAI_KEY
from tests.helpers import BookingServer, Receiver, call_once, poll_until, words
from tests.integration.conftest import Tenant

pytestmark = pytest.mark.integration

QUESTION = "I would like to reserve a table for two people, please."
CONFIRMATION = "Your table is booked for two at seven, reference A12."


@pytest.fixture
async def tool_server() -> AsyncIterator[BookingServer]:
    async with BookingServer(CONFIRMATION) as server:
        yield server


async def test_a_caller_books_through_the_agents_http_tool(
    idle_stack: Stack,
    calls_api: str,
    calls_tenant: Tenant,
    tool_server: BookingServer,
    fake_openai: FakeOpenAI,
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
            assert (
                await client.post("/integrations/openai", json={"api_key": OPENAI_KEY})
            ).status_code == 200
            hook = await client.post(
                "/webhooks",
                json={
                    "url": receiver.url,
                    "events": ["tool.executed", "tool.failed"],
                    "secret": receiver.secret,
                },
            )
            assert hook.status_code == 201, hook.text
            created = await client.post(
                "/voice-agents",
                json={
                    "name": "Bookings",
                    "voice_id": "local:en_US-joe-medium",
                    "llm_model": "gpt-4o-mini",
                    "active": True,
                    "first_message": "Hello, restaurant bookings.",
                    "tools": [
                        {
                            "type": "http",
                            "name": "reserve",
                            "description": "Reserve a table",
                            "parameters": {
                                "type": "object",
                                "properties": {
                                    "when": {"type": "string"},
                                    "guests": {"type": "integer"},
                                },
                                "required": ["when", "guests"],
                            },
                            "url": tool_server.url,
                            "headers": {"Authorization": "Bearer tool-secret-123"},
                        },
                        {"type": "end_call"},
                    ],
                },
            )
            assert created.status_code == 201, created.text
            agent = created.json()
            # The header is a secret: stored sealed, shown masked.
            assert agent["tools"][0]["headers"] == {"Authorization": "********"}
            assert "tool-secret-123" not in (await client.get(f"/voice-agents/{agent['id']}")).text

            started = await client.post(
                "/conversations", json={"agent_id": agent["id"], "user_id": "caller-tools"}
            )
            assert started.status_code == 201, started.text
            conversation_id = started.json()["conversation_id"]
            report = await call_once(started.json()["connection_details"], QUESTION)
            report = await HeardTranscriber().fill(report)

            asked = [r.body for r in fake_openai.state.requests if r.route == "chat"]
            assert len(tool_server.requests) == 1, (report.turns, asked[-2:])
            request = tool_server.requests[0]
            assert request["authorization"] == "Bearer tool-secret-123"
            assert request["body"]["guests"] == 1 and "reserve" in request["body"]["when"].lower()
            reply = report.turns[0].reply
            assert reply is not None, "no answer heard"
            assert {"booked", "table", "reference"} & words(reply.transcript), reply.transcript

            async def tool_recorded() -> dict | None:
                body = (await client.get(f"/conversations/{conversation_id}")).json()
                return body if body["tools"] else None

            record = await poll_until(tool_recorded, 30, "the tool call to be recorded")
            assert record["metadata"]["tools_used"] == ["reserve"]
            use = record["tools"][0]
            assert use["source"] == "http" and use["status"] == "success"
            assert use["arguments"] == request["body"] and CONFIRMATION in use["result"]

            await poll_until(
                lambda: receiver.events_of("tool.executed"), 30, "the tool.executed webhook"
            )
            event = receiver.events_of("tool.executed")[0]
            assert event["data"]["conversation_id"] == conversation_id
            assert event["data"]["name"] == "reserve"
            assert json.dumps(event).count("tool-secret-123") == 0
    finally:
        await receiver.stop()
