"""A worker killed mid-call: what was said before the kill is in the store, and the reaper
marks the call failed (`worker_lost`) once its heartbeat stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from simulator.caller import CallScript, Utterance, join_conversation
from simulator.speech import render_speech
from simulator.stack import ManagedProcess, Stack
from tests.helpers import poll_until
from tests.integration.conftest import Tenant, admin, stack_control_plane

pytestmark = pytest.mark.integration

AGENT_NAME = "voice-agent-crash"
PORT = 8394
WORKER_HTTP_PORT = 8186
GREETING = "Hello, you are through to the repair desk."


@pytest.fixture(scope="module")
def doomed_worker(stack: Stack) -> Iterator[ManagedProcess]:
    """A second worker, under its own agent name, that the test kills."""
    proc = stack.start_worker("worker-doomed", agent_name=AGENT_NAME, http_port=WORKER_HTTP_PORT)
    try:
        yield proc
    finally:
        proc.stop()
        stack.processes.pop("worker-doomed", None)


@pytest.fixture(scope="module")
def reaping_api(stack: Stack, store_url: str, provider_env: dict[str, str]) -> Iterator[str]:
    """A control plane dispatching to the doomed worker, reaping calls silent for 25 s: longer
    than two of the worker's heartbeats (every 10 s), so a live call whose beat comes late on a
    busy machine is not taken for a lost one."""
    reaper = {"REAPER_INTERVAL_SECONDS": "0.5", "REAPER_STALE_SECONDS": "25"}
    process = stack_control_plane(
        stack, store_url, PORT, AGENT_NAME, "control-plane-reaper.log", {**reaper, **provider_env}
    )
    try:
        yield f"http://127.0.0.1:{PORT}"
    finally:
        process.stop()


async def test_a_killed_worker_keeps_what_was_said_and_the_call_fails(
    doomed_worker: ManagedProcess, reaping_api: str, store_url: str
) -> None:
    created = admin(store_url, "create-company", "Repair Desk Ltd")
    tenant = Tenant(created["company_id"], created["key_id"], created["api_key"])
    async with httpx.AsyncClient(base_url=reaping_api, headers=tenant.headers) as client:
        agent = (
            await client.post(
                "/voice-agents",
                json={
                    "name": "Repairs",
                    "voice_id": "local:en_US-joe-medium",
                    "active": True,
                    "first_message": GREETING,
                },
            )
        ).json()
        started = (
            await client.post("/conversations", json={"agent_id": agent["id"], "user_id": "c-1"})
        ).json()
        conversation = f"/conversations/{started['conversation_id']}"
        details = started["connection_details"]
        question = "My washing machine is broken."
        script = CallScript(
            turns=[Utterance(render_speech(question), question)],
            greeting_timeout=60,
            reply_timeout=30,
        )
        caller = asyncio.create_task(
            join_conversation(
                details["websocket_url"], details["token"], details["room_name"], script
            )
        )
        try:

            async def greeting_stored() -> dict | None:
                body = (await client.get(conversation)).json()
                return body if any(m["speaker"] == "agent" for m in body["transcript"]) else None

            live = await poll_until(greeting_stored, 60, "the greeting to be stored")
            assert live["status"] == "ongoing"
            assert doomed_worker.proc is not None
            os.killpg(doomed_worker.proc.pid, signal.SIGKILL)
            doomed_worker.proc.wait()

            async def failed() -> dict | None:
                body = (await client.get(conversation)).json()
                return body if body["status"] == "failed" else None

            record = await poll_until(failed, 60, "the reaper to fail the call")
        finally:
            caller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await caller

    assert record["end_reason"] == "worker_lost"
    assert record["ended_at"] is not None
    assert record["transcript"][0]["speaker"] == "agent"
    assert record["transcript"][0]["text"] == GREETING
