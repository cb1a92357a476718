"""Scale-out on LiveKit's own machinery (`tests/cluster.py`): two livekit-server nodes on one
Redis behind a load balancer, two workers, two control planes on one PostgreSQL store.

Calls spread over the workers; a worker killed mid-call loses that call only; a stopped worker
finishes its calls, takes no new ones, and is cut off at its drain limit; a worker whose node
dies carries on through the other node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from livekit import rtc

from agent_worker.call import CALL_FINISHED, CALL_STARTED
from simulator.caller import CallReport, CallScript, Utterance, join_conversation
from simulator.speech import render_speech
from simulator.stack import ManagedProcess, Stack, control_plane_process, stop_together
from tests.cluster import (
    AGENT_NAME,
    AVAILABLE,
    BALANCER_URL,
    FULL,
    LOG_DIR,
    REGISTERED,
    Cluster,
    LogCursor,
    log_lines_with,
    region_of,
)
from tests.helpers import agent_joined, poll_until
from tests.integration.conftest import Tenant, admin, database_url_for

pytestmark = pytest.mark.integration

CONTROL_PLANE_PORTS = (8380, 8381)
REAPER = {"REAPER_INTERVAL_SECONDS": "0.5", "REAPER_STALE_SECONDS": "30"}
"""A call whose worker stopped beating (every 10 s) is failed 30 s after its last sign (at
20 s a live call on a busy machine was once failed: its beats came late)."""
ONE_CALL = {"WORKER_MAX_CALLS": "1"}
"""A worker with a call reports itself full: LiveKit sends the next call elsewhere."""
TWO_CALLS = {"WORKER_MAX_CALLS": "2"}
"""Room for a second call, so only draining keeps a worker from taking one."""
DRAIN_LIMIT = 3
SHORT_DRAIN = {"WORKER_DRAIN_SECONDS": str(DRAIN_LIMIT)}

GREETING = "Hello, you are through to the cluster desk."
QUESTION = "What time do you open tomorrow?"
DRAINING = "draining worker"
"""livekit-agents logs this as it tells LiveKit the worker takes no more calls."""
NO_WORKER = "failed to send job request"
"""livekit-server logs this when no worker of any node would take a call's job."""


@dataclass
class ScaleOut:
    """The running cluster, its two control planes and a company with one agent."""

    cluster: Cluster
    control_planes: list[str]
    tenant: Tenant
    agent_id: str

    def client(self, index: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.control_planes[index], headers=self.tenant.headers, timeout=30
        )

    def worker(self, name: str) -> ManagedProcess:
        return self.cluster.workers[name]

    async def ensure(self, workers: Mapping[str, Mapping[str, str]]) -> None:
        """Exactly these workers, with these settings (see `Cluster.ensure`)."""
        await asyncio.to_thread(self.cluster.ensure, workers)


@pytest.fixture(scope="module")
def scale_out(
    stack: Stack, redis_url: str, provider_env: dict[str, str], tmp_path_factory
) -> Iterator[ScaleOut]:
    database_url = database_url_for("postgresql", tmp_path_factory.mktemp("scale-out"))
    cluster = Cluster(
        redis_address=redis_url.removeprefix("redis://").split("/")[0],
        worker_env={
            "DATABASE_URL": database_url,
            "LLM_BASE_URL": stack.config.llm_base_url,
            **provider_env,
        },
    )
    control_planes: list[ManagedProcess] = []
    try:
        cluster.start_node("a")
        cluster.start_node("b")
        cluster.start_balancer()
        for port in CONTROL_PLANE_PORTS:  # one after the other: the first migrates the store
            control_planes.append(
                control_plane_process(
                    port,
                    database_url=database_url,
                    log_path=LOG_DIR / f"control-plane-{port}.log",
                    env={
                        "LIVEKIT_URL": BALANCER_URL,
                        "LIVEKIT_API_KEY": cluster.key,
                        "LIVEKIT_API_SECRET": cluster.secret,
                        "VOICE_AGENT_NAME": AGENT_NAME,
                        **REAPER,
                        **provider_env,
                    },
                )
            )
        created = admin(database_url, "create-company", "Cluster Co")
        assert isinstance(created, dict)
        tenant = Tenant(created["company_id"], created["key_id"], created["api_key"])
        agent = httpx.post(
            f"http://127.0.0.1:{CONTROL_PLANE_PORTS[0]}/voice-agents",
            headers=tenant.headers,
            json={
                "name": "Cluster desk",
                "voice_id": "local:en_US-joe-medium",
                "active": True,
                "first_message": GREETING,
                # No reprompt nor silence hang-up: the calls here end when the test says.
                "turn_detection": {"timeout": 600, "end_call_on_silence": 3600},
            },
            timeout=30,
        )
        assert agent.status_code == 201, agent.text
        yield ScaleOut(
            cluster,
            [f"http://127.0.0.1:{port}" for port in CONTROL_PLANE_PORTS],
            tenant,
            agent.json()["id"],
        )
    finally:
        cluster.stop()
        stop_together(control_planes)


@dataclass
class Call:
    """A call placed through a control plane, its caller running in the background."""

    conversation_id: str
    room: str
    details: dict[str, str]
    caller: asyncio.Task[CallReport] | None = None

    async def report(self, within: float = 150) -> CallReport:
        assert self.caller is not None
        return await asyncio.wait_for(asyncio.shield(self.caller), within)


async def start_call(client: httpx.AsyncClient, agent_id: str, user: str) -> Call:
    """`POST /conversations`: the call's record and the caller's connection details."""
    resp = await client.post("/conversations", json={"agent_id": agent_id, "user_id": user})
    assert resp.status_code == 201, resp.text
    started = resp.json()
    details = started["connection_details"]
    return Call(started["conversation_id"], details["room_name"], details)


async def place_call(client: httpx.AsyncClient, agent_id: str, user: str) -> Call:
    """A call whose caller joins, hears the greeting, asks one question, hears the reply and
    hangs up."""
    call = await start_call(client, agent_id, user)
    script = CallScript(
        turns=[Utterance(render_speech(QUESTION), QUESTION)],
        greeting_timeout=60,
        reply_timeout=90,
    )
    d = call.details
    call.caller = asyncio.create_task(
        join_conversation(d["websocket_url"], d["token"], d["room_name"], script),
        name=f"caller-{user}",
    )
    return call


@contextlib.asynccontextmanager
async def on_the_line(*calls: Call) -> AsyncIterator[None]:
    """Hang up the callers still on the line when the test is over."""
    try:
        yield
    finally:
        for call in calls:
            if call.caller is not None:
                call.caller.cancel()
        for call in calls:
            if call.caller is not None:
                with contextlib.suppress(BaseException):
                    await call.caller


async def record(client: httpx.AsyncClient, call: Call) -> dict[str, Any]:
    resp = await client.get(f"/conversations/{call.conversation_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def greeted(client: httpx.AsyncClient, call: Call) -> dict[str, Any] | None:
    """The record once it holds the agent's greeting."""
    body = await record(client, call)
    return body if any(m["speaker"] == "agent" for m in body["transcript"]) else None


async def ended(client: httpx.AsyncClient, call: Call) -> dict[str, Any] | None:
    body = await record(client, call)
    return body if body["status"] != "ongoing" else None


def taker(scale_out: ScaleOut, call: Call) -> str | None:
    """The worker whose log says it started the call's job."""
    for name, proc in scale_out.cluster.workers.items():
        if log_lines_with(proc, CALL_STARTED, call.room):
            return name
    return None


async def taken(scale_out: ScaleOut, call: Call) -> str:
    what = f"a worker to take the call in {call.room}"
    return str(await poll_until(lambda: taker(scale_out, call), 60, what))


async def logged(cursor: LogCursor, *needles: str, within: float = 30) -> list[str]:
    """The worker's new log lines with `needles`, once there are some."""
    what = f"{cursor.process.name} to log {needles}"
    return list(await poll_until(lambda: cursor.lines_with(*needles), within, what))


def assert_answered(report: CallReport, body: dict[str, Any]) -> None:
    transcript = body["transcript"]
    heard = report.as_dict()
    assert report.greeting_heard and report.turns[0].reply_heard, (heard, transcript)
    assert (body["status"], body["end_reason"]) == ("success", "caller_hung_up"), body
    assert [m["speaker"] for m in transcript[:3]] == ["agent", "user", "agent"], transcript
    assert transcript[0]["text"] == GREETING
    assert transcript[2]["text"].strip()


async def answered(client: httpx.AsyncClient, call: Call) -> None:
    """The caller heard the greeting and the reply, and the record closed as a success."""
    report = await call.report()
    body = await poll_until(lambda: ended(client, call), 60, "the call's record to close")
    assert_answered(report, body)


async def test_calls_spread_over_workers_and_are_answered(scale_out: ScaleOut) -> None:
    """Through either control plane, calls land on both workers: a worker with a call is full,
    and LiveKit dispatches the next call to the worker on the other node."""
    await scale_out.ensure({"worker-a": ONE_CALL, "worker-b": ONE_CALL})
    cursors = {n: LogCursor(p) for n, p in scale_out.cluster.workers.items()}
    async with scale_out.client(0) as first, scale_out.client(1) as second:
        one = await place_call(first, scale_out.agent_id, "caller-1")
        async with on_the_line(one):
            took_one = await taken(scale_out, one)
            await logged(cursors[took_one], FULL)
            two = await place_call(second, scale_out.agent_id, "caller-2")
            async with on_the_line(two):
                took_two = await taken(scale_out, two)
                assert {took_one, took_two} == {"worker-a", "worker-b"}
                # Each control plane reads the calls placed through the other one.
                await answered(second, one)
                await answered(first, two)


async def test_a_killed_worker_loses_its_call_only(scale_out: ScaleOut) -> None:
    """SIGKILL to a worker holding a call: the reaper fails that call as `worker_lost` with
    what was said so far; the other worker's call goes on, and takes the next call."""
    await scale_out.ensure({"worker-a": ONE_CALL, "worker-b": ONE_CALL})
    cursors = {n: LogCursor(p) for n, p in scale_out.cluster.workers.items()}
    async with scale_out.client(0) as client:
        one = await place_call(client, scale_out.agent_id, "caller-1")
        async with on_the_line(one):
            await logged(cursors[await taken(scale_out, one)], FULL)
            two = await place_call(client, scale_out.agent_id, "caller-2")
            async with on_the_line(two):
                calls = {await taken(scale_out, c): c for c in (one, two)}
                doomed, survivor = calls["worker-a"], calls["worker-b"]
                before = await poll_until(lambda: greeted(client, doomed), 60, "the greeting")
                scale_out.worker("worker-a").kill()

                await answered(client, survivor)
                await logged(cursors["worker-b"], AVAILABLE)
                three = await place_call(client, scale_out.agent_id, "caller-3")
                async with on_the_line(three):
                    assert await taken(scale_out, three) == "worker-b"
                    await answered(client, three)

                lost = await poll_until(lambda: ended(client, doomed), 60, "the reaper")
    assert (lost["status"], lost["end_reason"]) == ("failed", "worker_lost"), lost
    assert lost["transcript"][: len(before["transcript"])] == before["transcript"]
    assert lost["transcript"][0]["text"] == GREETING


async def test_a_worker_whose_node_dies_takes_calls_through_the_other_node(
    scale_out: ScaleOut,
) -> None:
    """Node B dies (SIGKILL): its worker reconnects through the balancer, registers with node A
    and answers the next call there."""
    await scale_out.ensure({"worker-b": ONE_CALL})
    worker = scale_out.worker("worker-b")
    cursor = LogCursor(worker)
    scale_out.cluster.kill_node("b")
    registered = await logged(cursor, REGISTERED)
    assert region_of(registered[-1]) == "a", registered
    async with scale_out.client(1) as client:
        call = await place_call(client, scale_out.agent_id, "caller-after-failover")
        async with on_the_line(call):
            assert await taken(scale_out, call) == "worker-b"
            await answered(client, call)
    # Node A, the survivor, hosted the room and handed its job to the worker.
    assert log_lines_with(scale_out.cluster.nodes["a"], "assigned job to worker", call.room)


async def test_a_stopped_worker_finishes_its_call_takes_no_new_one_and_exits(
    scale_out: ScaleOut,
) -> None:
    """SIGTERM: the worker drains. It has room for another call, yet LiveKit finds no worker
    for the next one while it is the only worker, and gives the one after to a new worker;
    the call in flight goes on to its end, then the worker exits."""
    await scale_out.ensure({"worker-a": TWO_CALLS})
    stopping = scale_out.worker("worker-a")
    process = stopping.proc
    assert process is not None
    cursor = LogCursor(stopping)
    async with scale_out.client(0) as first, scale_out.client(1) as second:
        one = await place_call(first, scale_out.agent_id, "caller-1")
        async with on_the_line(one):
            assert await taken(scale_out, one) == "worker-a"
            await poll_until(lambda: greeted(first, one), 60, "the greeting")
            os.kill(process.pid, signal.SIGTERM)  # as an orchestrator stops a container
            await logged(cursor, DRAINING)

            nodes = [LogCursor(node) for node in scale_out.cluster.nodes.values()]
            refused = await place_call(second, scale_out.agent_id, "caller-2")
            async with on_the_line(refused):
                await poll_until(
                    lambda: any(n.lines_with(NO_WORKER, AGENT_NAME) for n in nodes),
                    30,
                    "LiveKit to find no worker for the second call",
                )
            assert taker(scale_out, refused) is None

            await asyncio.to_thread(scale_out.cluster.start_workers, {"worker-b": TWO_CALLS})
            three = await place_call(second, scale_out.agent_id, "caller-3")
            async with on_the_line(three):
                assert await taken(scale_out, three) == "worker-b"
                await answered(first, one)
                await poll_until(lambda: process.poll() is not None, 60, "the worker to exit")
                assert process.returncode == 0, stopping.log_tail()
                # It let the call end as the caller hung up, not at a limit.
                assert cursor.lines_with(CALL_FINISHED, one.room, "participant_disconnected")
                assert not cursor.lines_with("drain timed out")
                await answered(second, three)


async def test_a_call_past_the_drain_limit_is_cut_and_the_worker_exits(
    scale_out: ScaleOut,
) -> None:
    """With WORKER_DRAIN_SECONDS=3 a stopped worker waits 3 s for a call that goes on, then
    leaves it and exits."""
    await scale_out.ensure({"worker-a": SHORT_DRAIN})
    worker = scale_out.worker("worker-a")
    process = worker.proc
    assert process is not None
    async with scale_out.client(0) as client:
        call = await start_call(client, scale_out.agent_id, "caller-on-hold")
        room = rtc.Room()  # a caller who listens and never hangs up
        left: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def on_leave(participant: rtc.RemoteParticipant) -> None:
            if not left.done():
                left.set_result(time.monotonic())

        room.on("participant_disconnected", on_leave)
        try:
            joined = agent_joined(room)
            await room.connect(call.details["websocket_url"], call.details["token"])
            await asyncio.wait_for(joined, 60)
            assert await taken(scale_out, call) == "worker-a"
            await poll_until(lambda: greeted(client, call), 60, "the greeting")
            stopped_at = time.monotonic()
            os.kill(process.pid, signal.SIGTERM)
            await poll_until(lambda: process.poll() is not None, DRAIN_LIMIT + 30, "the exit")
            assert time.monotonic() - stopped_at >= DRAIN_LIMIT
            assert worker.log_contains("drain timed out")
            # The agent left at the limit; the caller is still in the room.
            assert await asyncio.wait_for(left, 10) - stopped_at >= DRAIN_LIMIT
            assert room.connection_state == rtc.ConnectionState.CONN_CONNECTED
            # The worker closed the call's record before it exited, with what was said.
            body = await record(client, call)
        finally:
            await room.disconnect()
    assert body["status"] != "ongoing", body
    assert body["transcript"][0]["text"] == GREETING


async def test_calls_at_once_are_all_answered_by_the_embedded_llm(stack: Stack) -> None:
    """Workers share one LLM server; a completion still streaming when another call's request
    arrives runs to its end (llama-cpp-python's server cuts it short by default)."""
    url = f"{stack.config.llm_base_url}/chat/completions"
    first_chunk, second_waiting = asyncio.Event(), asyncio.Event()

    async def ask(client: httpx.AsyncClient, question: str, first: bool) -> str | None:
        """Stream an answer; its finish reason (None: the stream ended without one)."""
        body = {
            "model": "local",
            "stream": True,
            "temperature": 0,
            # More chunks than the server buffers ahead (10): the completion is still going on
            # when the other request arrives.
            "max_tokens": 24,
            "messages": [{"role": "user", "content": question}],
        }
        finish = None
        async with client.stream("POST", url, json=body) as resp:
            if not first:
                second_waiting.set()  # its stream is open: it waits for the model
            async for line in resp.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                if first and not first_chunk.is_set():
                    first_chunk.set()
                    await second_waiting.wait()  # the server holds this completion meanwhile
                finish = json.loads(line[6:])["choices"][0].get("finish_reason") or finish
        return finish

    async with httpx.AsyncClient(timeout=60) as client:
        first = asyncio.create_task(ask(client, "Tell me about cats.", first=True))
        await asyncio.wait_for(first_chunk.wait(), 120)
        second = asyncio.create_task(ask(client, "Tell me about dogs.", first=False))
        assert await asyncio.wait_for(first, 120) in ("stop", "length")
        assert await asyncio.wait_for(second, 120) in ("stop", "length")
