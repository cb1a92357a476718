"""The control plane's `GET /metrics`, parsed as Prometheus reads it, after real requests and a
real webhook outbox on each database backend; and its log as JSON lines (`LOG_FORMAT=json`)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.stack import control_plane_process
from tests.helpers import Receiver, poll_until
from tests.integration.conftest import (
    FAST_WEBHOOKS,
    LOG_DIR,
    ApiServer,
    Tenant,
    admin,
    database_url_for,
    running_api_server,
)

pytestmark = pytest.mark.integration

PORTS = {"sqlite": (8396, 8397), "postgresql": (8398, 8399)}
"""Per backend: the control plane that queues (no dispatcher), the one that delivers."""
MAX_ATTEMPTS = 3
AGENT = {"voice_id": "local:en_US-joe-medium", "active": True}
METRICS = {"METRICS_CACHE_SECONDS": "0.2", "LOG_FORMAT": "json"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base_url: str) -> Samples:
    """Every sample of the server's `/metrics` (asked without an API key)."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        resp = await client.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def queuing_api(request, tmp_path_factory, provider_env) -> Iterator[ApiServer]:
    """A control plane that queues webhook deliveries but does not deliver them."""
    backend = request.param
    database_url = database_url_for(backend, tmp_path_factory.mktemp(f"metrics-{backend}"))
    env = {**provider_env, **METRICS, "WEBHOOK_DISPATCHER": "false"}
    with running_api_server(
        backend, database_url, PORTS[backend][0], f"control-plane-metrics-{backend}.log", env
    ) as server:
        yield server


@asynccontextmanager
async def delivering_api(queuing: ApiServer, provider_env: dict[str, str]) -> AsyncIterator[str]:
    """A second control plane on the same database, delivering with fast retries. Started
    and stopped off the event loop, which serves the test's receivers meanwhile."""
    env = {
        **provider_env,
        **METRICS,
        **FAST_WEBHOOKS,
        "WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    }
    port = PORTS[queuing.backend][1]
    process = await asyncio.to_thread(
        control_plane_process,
        port,
        database_url=queuing.database_url,
        log_path=LOG_DIR / f"control-plane-metrics-{queuing.backend}-delivering.log",
        env=env,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(process.stop)


async def test_requests_are_counted_by_route_template_method_and_status(
    queuing_api: ApiServer,
) -> None:
    by_id = "/voice-agents/{id}"
    before = await scrape(queuing_api.base_url)
    async with queuing_api.client(queuing_api.acme) as client:
        resp = await client.post("/voice-agents", json=AGENT | {"name": "Counted"})
        assert resp.status_code == 201, resp.text
        agent_id = resp.json()["id"]
        for _ in range(2):
            assert (await client.get(f"/voice-agents/{agent_id}")).status_code == 200
        missing = str(uuid.uuid4())
        assert (await client.get(f"/voice-agents/{missing}")).status_code == 404
        assert (await client.get(f"/no/such/{missing}")).status_code == 404
    after = await scrape(queuing_api.base_url)

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "voice_agent_http_requests_total"
    assert added(requests, method="POST", route="/voice-agents", status="201") == 1
    assert added(requests, method="GET", route=by_id, status="200") == 2
    assert added(requests, method="GET", route=by_id, status="404") == 1
    assert added(requests, method="GET", route="unmatched", status="404") == 1
    durations = "voice_agent_http_request_duration_seconds_count"
    assert added(durations, method="GET", route=by_id) == 3
    assert added("voice_agent_http_request_duration_seconds_sum", method="GET", route=by_id) > 0
    # Route templates only: no id reaches a label.
    labels = {v for (_name, pairs) in after for _k, v in pairs}
    assert not any(agent_id in label or missing in label for label in labels)
    # The endpoint itself is no part of the API's contract.
    async with queuing_api.client() as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths


async def test_outbox_and_ongoing_calls_are_gauged_and_deliveries_counted(
    queuing_api: ApiServer, provider_env: dict[str, str]
) -> None:
    created = await asyncio.to_thread(admin, queuing_api.database_url, "create-company", "Gauged")
    tenant = Tenant(created["company_id"], created["key_id"], created["api_key"])
    listening, refusing = Receiver(), Receiver(fail=1000)
    await listening.start()
    await refusing.start()
    try:
        async with queuing_api.client(tenant) as client:
            for receiver in (listening, refusing):
                resp = await client.post(
                    "/webhooks",
                    json={
                        "url": receiver.url,
                        "events": ["agent.created"],
                        "secret": receiver.secret,
                    },
                )
                assert resp.status_code == 201, resp.text
            agent = (await client.post("/voice-agents", json=AGENT | {"name": "Hooked"})).json()
            resp = await client.post(
                "/conversations", json={"agent_id": agent["id"], "user_id": "caller-1"}
            )
            assert resp.status_code == 201, resp.text

        async def gauges(base_url: str, backlog: int, ongoing: int) -> bool:
            samples = await scrape(base_url)
            return (
                value(samples, "voice_agent_webhook_backlog") == backlog
                and value(samples, "voice_agent_webhook_pending") == backlog
                and value(samples, "voice_agent_ongoing_calls") == ongoing
            )

        # One agent.created for each of the two webhooks, due and waiting; the call (never
        # joined) is ongoing.
        await poll_until(lambda: gauges(queuing_api.base_url, 2, 1), 10, "2 queued, 1 ongoing")
        assert listening.seen == [] and refusing.seen == []

        async with delivering_api(queuing_api, provider_env) as delivering:

            async def delivered() -> Samples | None:
                samples = await scrape(delivering)
                failed = value(samples, "voice_agent_webhook_deliveries_total", outcome="failed")
                return samples if failed == 1 else None

            samples = await poll_until(delivered, 30, "the refused delivery to fail for good")
            outcomes = {
                outcome: value(samples, "voice_agent_webhook_deliveries_total", outcome=outcome)
                for outcome in ("delivered", "retrying", "failed")
            }
            assert outcomes == {"delivered": 1, "retrying": MAX_ATTEMPTS - 1, "failed": 1}
            assert listening.seen == [200] and refusing.seen == [500] * MAX_ATTEMPTS
            # The outbox is empty for every control plane reading the store.
            for base_url in (queuing_api.base_url, delivering):
                await poll_until(lambda u=base_url: gauges(u, 0, 1), 10, "an empty outbox")
        # The queuing control plane delivered nothing itself.
        samples = await scrape(queuing_api.base_url)
        assert not any(name == "voice_agent_webhook_deliveries_total" for name, _ in samples)
    finally:
        await listening.stop()
        await refusing.stop()


async def test_json_log_lines(queuing_api: ApiServer) -> None:
    async with queuing_api.client(queuing_api.acme) as client:
        status = (await client.get("/voice-agents", params={"api_key": "leaked"})).status_code
    log = queuing_api.process.log_path

    def records() -> list[dict] | None:
        written = log.read_text()
        lines = written[: written.rfind("\n") + 1].splitlines()  # whole lines only
        parsed = [json.loads(line) for line in lines]  # every line is one JSON object
        access = [r for r in parsed if r["logger"] == "uvicorn.access"]
        return parsed if any("api_key=***" in r["path"] for r in access) else None

    parsed = await poll_until(records, 10, "the request in the access log")
    for record in parsed:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    loggers = {r["logger"] for r in parsed}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers
    [request] = [r for r in parsed if "api_key=***" in r.get("path", "")]
    assert request["method"] == "GET" and request["status"] == status
    assert request["path"] == "/voice-agents?api_key=***"
    assert "leaked" not in log.read_text()
