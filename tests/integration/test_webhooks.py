"""Webhooks against a real receiver on loopback: signed deliveries it can verify, retried with
backoff while it fails, every attempt readable through the API, nothing lost when the
dispatcher is killed and restarted, nothing shown to another company."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from simulator.stack import control_plane_process
from tests.helpers import Receiver, poll_until
from tests.integration.conftest import FAST_WEBHOOKS, LOG_DIR, ApiServer, admin, database_url_for

pytestmark = pytest.mark.integration

SECRET = Receiver.secret


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def test_signed_deliveries_are_retried_until_the_receiver_takes_them(
    api_server: ApiServer, receiver: Receiver
):
    receiver.fail = 2
    tenant = api_server.new_tenant("Hooked Inc")
    async with api_server.client(tenant) as client:
        events = (await client.get("/webhooks/events")).json()
        assert {e["event"] for e in events} >= {
            "conversation.started", "conversation.ended", "conversation.failed",
            "message.received", "agent.created", "agent.updated", "agent.deleted",
            "tool.executed", "tool.failed", "agent.handoff", "error.occurred",
        }  # fmt: skip

        url = f"http://127.0.0.1:{receiver.port}/hook"
        resp = await client.post(
            "/webhooks",
            json={
                "url": url,
                "events": ["agent.created", "agent.updated", "agent.deleted"],
                "secret": SECRET,
                "description": "agents",
            },
        )
        assert resp.status_code == 201, resp.text
        hook = resp.json()
        assert hook["secret"] is None  # ours, not shown back
        assert SECRET not in (await client.get("/webhooks")).text

        agent = (
            await client.post("/voice-agents", json={"name": "Hooked", "voice_id": "v"})
        ).json()
        await poll_until(
            lambda: receiver.events_of("agent.created"), 30, "agent.created to be delivered"
        )
        assert receiver.seen[:3] == [500, 500, 200]
        delivered = receiver.events_of("agent.created")[0]
        assert delivered["data"]["id"] == agent["id"]
        assert set(delivered) == {"event", "created_at", "data", "timestamp"}

        deliveries = (await client.get(f"/webhooks/{hook['id']}/deliveries")).json()
        [d] = [d for d in deliveries if d["event"] == "agent.created"]
        assert d["status"] == "delivered" and d["retry_count"] == 2
        assert [a["status_code"] for a in d["attempts"]] == [500, 500, 200]
        assert [a["retry_count"] for a in d["attempts"]] == [0, 1, 2]
        assert all(a["next_retry"] for a in d["attempts"][:2])
        assert d["attempts"][0]["error"] == "HTTP 500"

        await client.put(f"/voice-agents/{agent['id']}", json={"name": "Renamed"})
        await client.delete(f"/voice-agents/{agent['id']}")
        await poll_until(lambda: receiver.events_of("agent.deleted"), 30, "agent.deleted")
        updated = receiver.events_of("agent.updated")[0]
        assert updated["data"]["name"] == "Renamed" and updated["data"]["changed"] == ["name"]

        # A generated secret is shown once.
        resp = await client.post("/webhooks", json={"url": url, "events": ["*"]})
        assert resp.json()["secret"].startswith("whsec_")

    # Another company neither sees the webhook nor receives the first company's events.
    async with api_server.client(api_server.globex) as other:
        assert (await other.get(f"/webhooks/{hook['id']}/deliveries")).status_code == 404
        assert (await other.delete(f"/webhooks/{hook['id']}")).status_code == 404
        assert hook["id"] not in (await other.get("/webhooks")).text
        await other.post("/voice-agents", json={"name": "Globex agent", "voice_id": "v"})
    async with api_server.client(tenant) as client:
        assert (await client.delete(f"/webhooks/{hook['id']}")).status_code == 204


async def test_bad_subscriptions_are_400s(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        cases = [
            ({"url": "ftp://x", "events": ["agent.created"]}, "url"),
            ({"url": "http://x", "events": ["agent.exploded"]}, "events"),
            ({"url": "http://x", "events": []}, "events"),
            ({"url": "http://x", "events": ["*"], "secret": "short"}, "secret"),
        ]
        for body, named in cases:
            resp = await client.post("/webhooks", json=body)
            assert resp.status_code == 400, body
            assert named in resp.json()["detail"]


async def test_a_restarted_dispatcher_delivers_what_was_queued(tmp_path, provider_env):
    """The receiver is down and the control plane is killed mid-retry; once both are back,
    the event arrives."""
    database_url = database_url_for("sqlite", tmp_path)
    port = 8395
    env = {**FAST_WEBHOOKS, **provider_env, "WEBHOOK_RETRY_BASE_SECONDS": "0.5"}

    def start():
        return control_plane_process(
            port, database_url=database_url, log_path=LOG_DIR / "control-plane-hooks.log", env=env
        )

    receiver = Receiver()
    await receiver.start()
    hook_port = receiver.port
    await receiver.stop()  # down: its port refuses connections
    first = start()
    try:
        created = await asyncio.to_thread(admin, database_url, "create-company", "Durable")
        headers = {"x-api-key": created["api_key"]}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            hook = (
                await c.post(
                    "/webhooks",
                    json={
                        "url": f"http://127.0.0.1:{hook_port}/hook",
                        "events": ["agent.created"],
                        "secret": SECRET,
                    },
                )
            ).json()
            await c.post("/voice-agents", json={"name": "Durable", "voice_id": "v"})

            async def failed_once() -> bool:
                rows = (await c.get(f"/webhooks/{hook['id']}/deliveries")).json()
                return bool(rows and rows[0]["attempts"])

            await poll_until(failed_once, 30, "a failed delivery attempt")
    finally:
        # Killed outright, with its delivery pending (and possibly claimed).
        assert first.proc is not None
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait()

    receiver = Receiver()
    await receiver.start(hook_port)
    second = start()
    try:
        await poll_until(lambda: receiver.events_of("agent.created"), 60, "the queued event")
        assert len(receiver.events_of("agent.created")) == 1
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            [row] = (await c.get(f"/webhooks/{hook['id']}/deliveries")).json()
        assert row["status"] == "delivered"
        assert row["attempts"][0]["status_code"] is None  # connection refused
        assert "ConnectError" in row["attempts"][0]["error"]
    finally:
        second.stop()
        await receiver.stop()
