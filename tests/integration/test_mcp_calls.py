"""MCP tools on a real call: the caller asks, the model calls the assigned tool of the
company's MCP server (the SDK's own), the caller hears its answer; with the server down, the
call goes on and the agent answers without it."""

from __future__ import annotations

import httpx
import pytest

from fake_providers.openai import FakeOpenAI
from simulator.stack import Stack
from simulator.transcribe import HeardTranscriber
from tests.conftest import OPENAI_KEY
from tests.helpers import call_once, poll_until, words, worker_info
from tests.integration.conftest import Tenant
from tests.mcp_server import calendar_server

pytestmark = pytest.mark.integration

QUESTION = "What are the opening times on Friday?"


async def ask(client: httpx.AsyncClient, agent_id: str) -> tuple[str, str, list]:
    started = await client.post("/conversations", json={"agent_id": agent_id, "user_id": "c-mcp"})
    assert started.status_code == 201, started.text
    report = await call_once(started.json()["connection_details"], QUESTION)
    report = await HeardTranscriber().fill(report)
    reply = report.turns[0].reply
    assert reply is not None, "no answer heard"
    return started.json()["conversation_id"], reply.transcript, report.turns


async def test_a_caller_is_answered_through_an_mcp_tool_and_without_it_when_down(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant, fake_openai: FakeOpenAI
) -> None:
    auth = {"Authorization": f"Bearer {calls_tenant.api_key}"}
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        assert (
            await client.post("/integrations/openai", json={"api_key": OPENAI_KEY})
        ).status_code == 200
        agent = (
            await client.post(
                "/voice-agents",
                json={
                    "name": "Clinic",
                    "voice_id": "local:en_US-joe-medium",
                    "llm_model": "gpt-4o-mini",
                    "active": True,
                    "first_message": "Hello, the clinic.",
                },
            )
        ).json()
        with calendar_server("streamable_http", token="mcp-secret") as calendar:
            server = await client.post(
                "/v1/api/mcp-servers",
                json={
                    "name": "Calendar",
                    "url": calendar.url,
                    "headers": {"Authorization": "Bearer mcp-secret"},
                },
                headers=auth,
            )
            assert server.json()["data"]["status"] == "connected", server.text
            assigned = await client.post(
                f"/v1/api/agents/{agent['id']}/assign-tools",
                json={"tools": ["opening_times"]},
                headers=auth,
            )
            assert assigned.status_code == 200, assigned.text

            conversation_id, heard, turns = await ask(client, agent["id"])
            asked = [r.body for r in fake_openai.state.requests if r.route == "chat"]
            assert calendar.calls, (turns, asked[-2:])
            assert calendar.calls[0]["tool"] == "opening_times"
            asked = [r.body for r in fake_openai.state.requests if r.route == "chat"]
            assert {"nine", "five", "morning", "evening"} & words(heard), (heard, asked[-1])

            async def recorded() -> dict | None:
                body = (await client.get(f"/conversations/{conversation_id}")).json()
                return body if body["tools"] else None

            record = await poll_until(recorded, 30, "the MCP tool call to be recorded")
            assert record["tools"][0]["name"] == "opening_times"
            assert record["tools"][0]["source"] == "mcp"
            await poll_until(
                lambda: worker_info(idle_stack.config.worker_http_port).get("active_jobs", 0) == 0,
                60,
                "the call's job to end",
            )
        # The server is gone now: the next call starts without its tool and still answers.
        _, heard, _ = await ask(client, agent["id"])
        assert {"opening", "friday", "times"} & words(heard), heard
