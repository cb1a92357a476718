"""The worker registers with a real livekit-server and is dispatched by agent name."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api, rtc

from agent.contract import AgentConfig
from simulator.stack import Stack
from tests.conftest import TEST_AGENT_NAME
from tests.helpers import (
    agent_joined,
    caller_in_room,
    poll_until,
    worker_info,
    worker_log_records,
)

pytestmark = pytest.mark.integration


async def test_worker_registered_under_its_agent_name(idle_stack: Stack) -> None:
    stack = idle_stack
    info = worker_info(stack.config.worker_http_port)
    assert info["agent_name"] == TEST_AGENT_NAME
    assert stack.processes["worker"].log_contains("registered worker")


async def test_dispatch_by_name_brings_the_agent_into_the_room(idle_stack: Stack) -> None:
    stack = idle_stack
    async with caller_in_room(stack) as (room, name, lkapi):
        joined = agent_joined(room)
        dispatch = await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=TEST_AGENT_NAME, room=name, metadata=AgentConfig().to_metadata()
            )
        )
        agent = await asyncio.wait_for(joined, 60)
        assert agent.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        dispatches = await lkapi.agent_dispatch.list_dispatch(room_name=name)
        ours = [d for d in dispatches if d.id == dispatch.id]
        assert len(ours) == 1
        assert ours[0].agent_name == TEST_AGENT_NAME


async def test_dispatch_to_another_name_is_not_taken(idle_stack: Stack) -> None:
    stack = idle_stack
    async with caller_in_room(stack) as (room, name, lkapi):
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name="someone-else", room=name)
        )
        # Our worker only takes jobs for its own name; a dispatch for our name still works.
        joined = agent_joined(room)
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=TEST_AGENT_NAME, room=name)
        )
        await asyncio.wait_for(joined, 60)
        agents = [
            p
            for p in room.remote_participants.values()
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ]
        assert len(agents) == 1


async def test_invalid_agent_config_is_refused_and_worker_serves_on(idle_stack: Stack) -> None:
    stack = idle_stack
    worker = stack.processes["worker"]
    async with caller_in_room(stack) as (room, name, lkapi):
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=TEST_AGENT_NAME, room=name, metadata='{"agent": {"temperature": 5}}'
            )
        )
        await poll_until(
            lambda: worker.log_contains("invalid agent config in job metadata: temperature"),
            60,
            "the worker to log why it refused the job",
        )
        assert not any(
            p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
            for p in room.remote_participants.values()
        )
    async with caller_in_room(stack) as (room, name, lkapi):
        joined = agent_joined(room)
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=TEST_AGENT_NAME, room=name)
        )
        await asyncio.wait_for(joined, 60)


async def test_caller_leaving_ends_the_job(idle_stack: Stack) -> None:
    stack = idle_stack
    port = stack.config.worker_http_port
    async with caller_in_room(stack) as (room, name, lkapi):
        joined = agent_joined(room)
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=TEST_AGENT_NAME, room=name)
        )
        agent = await asyncio.wait_for(joined, 60)
        speaking = asyncio.Event()
        room.on(
            "track_subscribed",
            lambda track, _pub, who: who.identity == agent.identity and speaking.set(),
        )
        if not any(p.track for p in agent.track_publications.values()):
            await asyncio.wait_for(speaking.wait(), 30)
        assert worker_info(port).get("active_jobs", 0) >= 1
    # The caller hung up while the greeting was playing: the job must end on its own.
    await poll_until(lambda: worker_info(port).get("active_jobs", 0) == 0, 30, "the job to end")
    problems = [
        r["message"][:300]
        for r in worker_log_records(stack, name)
        # Our code and the framework's; the native SDK reports closed data channels as errors.
        if r["name"].startswith(("agent_worker", "pipelines", "livekit.agents"))
        and (r["level"] in ("ERROR", "CRITICAL") or "Traceback" in r["message"])
    ]
    assert problems == []
