"""The worker's `/metrics` after a real call placed through the API (a worker of its own, so
its counts are this test's), and its log as JSON lines (`LOG_FORMAT=json`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.stack import ManagedProcess, Stack
from tests.helpers import call_once, poll_until
from tests.integration.conftest import Tenant, admin, stack_control_plane

pytestmark = pytest.mark.integration

AGENT_NAME = "voice-agent-metrics"
WORKER_HTTP_PORT = 8184
WORKER_METRICS_PORT = 8185
API_PORT = 8386
GREETING = "Hello, this is the weather line."
QUESTION = "Will it rain tomorrow?"
STAGES = ("eou", "stt", "llm_ttft", "tts_ttfb", "e2e")
"""The stages every answered turn measures (the greeting has no caller turn before it)."""


@pytest.fixture(scope="module")
def metrics_worker(stack: Stack) -> Iterator[ManagedProcess]:
    """A worker under its own agent name serving its metrics, logging JSON."""
    proc = stack.start_worker(
        "worker-metrics",
        agent_name=AGENT_NAME,
        http_port=WORKER_HTTP_PORT,
        env={"WORKER_METRICS_PORT": str(WORKER_METRICS_PORT), "LOG_FORMAT": "json"},
    )
    try:
        yield proc
    finally:
        proc.stop()
        stack.processes.pop("worker-metrics", None)


@pytest.fixture(scope="module")
def metrics_api(stack: Stack, store_url: str, provider_env: dict[str, str]) -> Iterator[str]:
    """A control plane whose calls reach the metrics worker."""
    process = stack_control_plane(
        stack, store_url, API_PORT, AGENT_NAME, "control-plane-worker-metrics.log", provider_env
    )
    try:
        yield f"http://127.0.0.1:{API_PORT}"
    finally:
        process.stop()


async def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics")
    assert resp.status_code == 200, resp.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_a_call_is_counted_and_its_turns_timed(
    metrics_worker: ManagedProcess, metrics_api: str, store_url: str
) -> None:
    before = await scrape()
    assert value(before, "voice_agent_active_calls") == 0
    assert value(before, "voice_agent_calls_started_total") == 0
    assert any(name == "lk_agents_worker_load" for name, _ in before)  # livekit-agents' own

    created = await asyncio.to_thread(admin, store_url, "create-company", "Weather Line")
    tenant = Tenant(created["company_id"], created["key_id"], created["api_key"])
    async with httpx.AsyncClient(base_url=metrics_api, headers=tenant.headers) as client:
        agent = (
            await client.post(
                "/voice-agents",
                json={
                    "name": "Weather",
                    "voice_id": "local:en_US-joe-medium",
                    "active": True,
                    "first_message": GREETING,
                },
            )
        ).json()
        started = (
            await client.post("/conversations", json={"agent_id": agent["id"], "user_id": "c-1"})
        ).json()
        report = await call_once(started["connection_details"], QUESTION)
        assert report.turns[0].reply is not None

        async def closed() -> dict | None:
            body = (await client.get(f"/conversations/{started['conversation_id']}")).json()
            return body if body["status"] != "ongoing" else None

        record = await poll_until(closed, 60, "the call's record to be closed")

    async def call_ended() -> dict | None:
        samples = await scrape()
        return (
            samples
            if value(samples, "voice_agent_active_calls") == 0
            and any(name == "voice_agent_calls_ended_total" for name, _ in samples)
            else None
        )

    after = await poll_until(call_ended, 30, "the call to be counted as ended")
    assert value(after, "voice_agent_calls_started_total") == 1
    ended = {
        dict(labels)["reason"]: count
        for (name, labels), count in after.items()
        if name == "voice_agent_calls_ended_total"
    }
    assert ended == {record["end_reason"]: 1}
    assert (
        value(
            after,
            "voice_agent_calls_ended_total",
            status=record["status"],
            reason=record["end_reason"],
        )
        == 1
    )
    for stage in STAGES:
        assert value(after, "voice_agent_turn_latency_seconds_count", stage=stage) >= 1, stage
        assert value(after, "voice_agent_turn_latency_seconds_sum", stage=stage) > 0, stage
    # The call's own figures (stored with its record) are the ones observed: the caller's
    # turn-end delay lies in the bucket the histogram counted it in.
    stored = [turn for turn in record["metrics"]["turns"] if "end_of_turn_delay" in turn]
    assert len(stored) == value(after, "voice_agent_turn_latency_seconds_count", stage="eou")
    assert value(after, "voice_agent_provider_errors_total") == 0
    # The call's log lines carry its room as a field.
    room = started["connection_details"]["room_name"]
    said = [r["message"] for r in log_records(metrics_worker) if r.get("room") == room]
    assert "call job started" in said and "call job finished" in said


async def test_json_log_lines(metrics_worker: ManagedProcess) -> None:
    for record in log_records(metrics_worker):
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    assert any(r["message"] == "registered worker" for r in log_records(metrics_worker))


def log_records(worker: ManagedProcess) -> list[dict]:
    """The worker's log, every line of which must be one JSON object."""
    text = worker.log_path.read_text(errors="replace")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]
