"""Calls with agents from the store: started through the control plane's `POST /conversations`,
run by the worker with the stored configuration, refused when inactive or unknown."""

from __future__ import annotations

import json

import httpx
import pytest
from livekit import api, rtc

from simulator.caller import CallScript, join_conversation
from simulator.stack import Stack
from simulator.transcribe import HeardTranscriber
from tests.conftest import TEST_AGENT_NAME
from tests.helpers import caller_in_room, poll_until, words, worker_info
from tests.integration.conftest import Tenant

pytestmark = pytest.mark.integration


async def greeting_heard(client: httpx.AsyncClient, agent_id: str) -> str:
    resp = await client.post("/conversations", json={"agent_id": agent_id, "user_id": "caller-1"})
    assert resp.status_code == 201, resp.text
    details = resp.json()["connection_details"]
    script = CallScript(turns=[], greeting_timeout=60)
    report = await join_conversation(
        details["websocket_url"], details["token"], details["room_name"], script
    )
    report = await HeardTranscriber().fill(report)
    assert report.greeting is not None, "no greeting heard"
    return report.greeting.transcript


async def test_call_runs_the_stored_agent_and_picks_up_changes(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant
) -> None:
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        resp = await client.post(
            "/voice-agents",
            json={
                "name": "Bakery line",
                "voice_id": "local:en_US-joe-medium",
                "active": True,
                "first_message": "Welcome to the bakery. What would you like?",
            },
        )
        agent = resp.json()
        heard = await greeting_heard(client, agent["id"])
        assert "bakery" in words(heard), heard

        # A change through the API applies to the next call.
        resp = await client.put(
            f"/voice-agents/{agent['id']}",
            json={"first_message": "Thanks for calling the zoo. How can I help?"},
        )
        assert resp.status_code == 200
        await poll_until(
            lambda: worker_info(idle_stack.config.worker_http_port).get("active_jobs", 0) == 0,
            60,
            "the first call's job to end",
        )
        heard = await greeting_heard(client, agent["id"])
        assert "zoo" in words(heard), heard


async def test_inactive_or_unknown_agents_are_refused(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant
) -> None:
    worker = idle_stack.processes["worker"]
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        agent = (
            await client.post("/voice-agents", json={"name": "Off", "voice_id": "local:x"})
        ).json()
    assert agent["active"] is False
    unknown = "00000000-0000-4000-8000-000000000000"
    for agent_id, reason in [(agent["id"], "is not active"), (unknown, "does not exist")]:
        async with caller_in_room(idle_stack) as (room, name, lkapi):
            await lkapi.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=TEST_AGENT_NAME,
                    room=name,
                    metadata=json.dumps({"agent_id": agent_id}),
                )
            )
            await poll_until(
                lambda agent_id=agent_id, reason=reason: worker.log_contains(
                    f"agent {agent_id} {reason}"
                ),
                60,
                f"the worker to log that agent {agent_id} {reason}",
            )
            assert not any(
                p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
                for p in room.remote_participants.values()
            )
