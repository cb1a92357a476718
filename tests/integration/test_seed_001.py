"""Seed 001's REST API (`/v1/api/...`), replayed from its documented examples in order
against a running control plane on SQLite and PostgreSQL, with `Authorization: Bearer` as its
clients send it: the envelope, the nested agent config, conversations in its shape, webhooks,
the key check and rate tiers; then each documented error code."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import httpx
import pytest

from simulator.stack import ROOT

from .conftest import ApiServer, Tenant, admin

# The seed's `POST /api/agents/create` body, verbatim.
CREATE = {
    "name": "Medical Assistant",
    "description": "Handles patient inquiries",
    "industry": "healthcare",
    "config": {
        "voice": {"voice_id": "voice_123", "settings": {"stability": 0.8, "speed": 1.0}},
        "conversation": {
            "first_message": "Hello, Dr. Smith's office...",
            "system_prompt": "You are a medical receptionist...",
            "model": "claude-3-5-sonnet",
            "temperature": 0.3,
        },
        "turn_detection": {"mode": "silence", "timeout": 7, "end_call_on_silence": 60},
        "privacy": {"retention_days": 30, "zero_retention": False, "delete_audio": True},
    },
}
# The seed's cURL example of the same route.
CURL_CREATE = {"name": "Test Agent", "description": "Test description", "industry": "restaurant"}
# The seed's `PUT /api/agents/{id}/update` body.
UPDATE = {
    "name": "Updated Assistant Name",
    "config": {"conversation": {"system_prompt": "Updated prompt...", "temperature": 0.4}},
}
# The seed's `POST /api/webhooks` body.
WEBHOOK = {
    "url": "https://your-app.com/webhook",
    "events": ["conversation.ended", "tool.executed"],
    "secret": "webhook_secret_key",
}


def bearer(tenant: Tenant | str) -> dict[str, str]:
    key = tenant if isinstance(tenant, str) else tenant.api_key
    return {"Authorization": f"Bearer {key}"}


def client_of(api_server: ApiServer, tenant: Tenant | str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api_server.base_url, headers=bearer(tenant), timeout=60)


def data(resp: httpx.Response, status: int = 200) -> dict:
    """The envelope's `data`, checking the envelope."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["success"] is True and "data" in body, body
    datetime.fromisoformat(body["timestamp"])
    return body["data"]


def failure(resp: httpx.Response, status: int, code: str) -> dict:
    """The error envelope's `error`, checking its status and code."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["success"] is False and set(body) == {"success", "error", "timestamp"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


async def test_documented_examples_replay(api_server: ApiServer):
    tenant = api_server.new_tenant("Voisa replay")
    async with client_of(api_server, tenant) as client:
        key = data(await client.get("/v1/api/verify"))
        assert key["valid"] is True and key["account_id"] == tenant.company_id
        assert set(key["permissions"]) >= {"read", "write"}

        listed = data(await client.get("/v1/api/agents/list"))
        assert listed == {"agents": [], "pagination": {"total": 0, "page": 1, "pages": 1}}

        # Create, as documented: the nested config lands in the agent's settings.
        created = data(await client.post("/v1/api/agents/create", json=CREATE), 201)
        assert created["name"] == "Medical Assistant" and created["status"] == "active"
        assert created["industry"] == "healthcare"
        config = created["config"]
        assert config["voice"]["voice_id"] == "voice_123"
        assert config["voice"]["provider"] == "elevenlabs"
        assert config["voice"]["settings"]["stability"] == 0.8
        assert config["voice"]["settings"]["speed"] == 1.0
        assert {k: config["conversation"][k] for k in CREATE["config"]["conversation"]} == (
            CREATE["config"]["conversation"]
        )
        assert config["turn_detection"]["timeout"] == 7
        assert config["turn_detection"]["end_call_on_silence"] == 60
        assert config["privacy"] == CREATE["config"]["privacy"]
        assert created["knowledge_base"] == {"items": 0, "last_updated": None}
        assert created["tools"] == []
        assert created["analytics"] == {
            "total_calls": 0,
            "success_rate": None,
            "avg_duration": None,
        }
        medical = created["id"]

        # The same agent through the native API: one agent, two views.
        native = await client.get(f"/voice-agents/{medical}")
        assert native.status_code == 200, native.text
        assert native.json()["voice_speed"] == 100 and native.json()["llm_model"] == (
            "claude-3-5-sonnet"
        )
        assert native.json()["privacy"]["delete_audio"] is True

        second = data(await client.post("/v1/api/agents/create", json=CURL_CREATE), 201)
        restaurant = second["id"]

        # List: filters and pagination.
        listed = data(await client.get("/v1/api/agents/list"))
        assert [a["id"] for a in listed["agents"]] == [medical, restaurant]
        item = listed["agents"][0]
        assert set(item) == {
            "id", "name", "description", "status", "industry", "created_at", "stats",
        }  # fmt: skip
        assert item["stats"] == {"total_calls": 0, "success_rate": None}
        only = data(await client.get("/v1/api/agents/list", params={"industry": "restaurant"}))
        assert [a["id"] for a in only["agents"]] == [restaurant]
        page = data(await client.get("/v1/api/agents/list", params={"page": 2, "limit": 1}))
        assert [a["id"] for a in page["agents"]] == [restaurant]
        assert page["pagination"] == {"total": 2, "page": 2, "pages": 2}
        training = data(await client.get("/v1/api/agents/list", params={"status": "training"}))
        assert training["agents"] == []

        # Get, then update as documented: the given settings change, the others stay.
        details = data(await client.get(f"/v1/api/agents/{medical}"))
        assert details["config"] == config
        updated = data(await client.put(f"/v1/api/agents/{medical}/update", json=UPDATE))
        assert updated["name"] == "Updated Assistant Name"
        conversation = updated["config"]["conversation"]
        assert conversation["system_prompt"] == "Updated prompt..."
        assert conversation["temperature"] == 0.4
        assert conversation["first_message"] == "Hello, Dr. Smith's office..."
        assert updated["config"]["voice"] == config["voice"]
        assert updated["industry"] == "healthcare"
        # The speed multiplier is the native percentage.
        faster = {"config": {"voice": {"settings": {"speed": 1.25}}}}
        updated = data(await client.put(f"/v1/api/agents/{medical}/update", json=faster))
        assert updated["config"]["voice"]["settings"]["speed"] == 1.25
        assert (await client.get(f"/voice-agents/{medical}")).json()["voice_speed"] == 125
        paused = data(
            await client.put(f"/v1/api/agents/{medical}/update", json={"status": "inactive"})
        )
        assert paused["status"] == "inactive"
        inactive = data(await client.get("/v1/api/agents/list", params={"status": "inactive"}))
        assert [a["id"] for a in inactive["agents"]] == [medical]

        # Knowledge items and tools show on the agent.
        added = await client.post(
            "/v1/api/knowledge-base/text",
            json={
                "agent_id": medical,
                "title": "Business Hours",
                "content": "We are open Monday-Friday 9am-6pm",
                "category": "general",
            },
        )
        data(added, 201)
        tools = [
            {
                "type": "http",
                "name": "bookAppointment",
                "description": "Books an appointment",
                "url": "http://127.0.0.1:9/book",
            },
            {"type": "end_call"},
        ]
        given = await client.put(f"/voice-agents/{medical}", json={"tools": tools})
        assert given.status_code == 200, given.text
        details = data(await client.get(f"/v1/api/agents/{medical}"))
        assert details["knowledge_base"]["items"] == 1
        assert details["knowledge_base"]["last_updated"]
        assert details["tools"] == ["bookAppointment", "end_call"]

        # Conversations: a call started natively shows in the seed's shape.
        data(await client.put(f"/v1/api/agents/{medical}/update", json={"status": "active"}))
        started = await client.post(
            "/conversations", json={"agent_id": medical, "user_id": "caller-1"}
        )
        assert started.status_code == 201, started.text
        call = started.json()["conversation_id"]
        calls = data(await client.get("/v1/api/conversations/list", params={"agent_id": medical}))
        assert [c["id"] for c in calls["conversations"]] == [call]
        row = calls["conversations"][0]
        assert {"phone_number", "duration", "status", "started_at", "ended_at"} <= set(row)
        assert {"sentiment", "summary"} <= set(row)
        assert row["status"] == "ongoing"
        none = data(await client.get("/v1/api/conversations/list", params={"status": "failed"}))
        assert none["conversations"] == [] and none["pagination"]["total"] == 0
        one = data(await client.get(f"/v1/api/conversations/{call}"))
        assert one["transcript"] == [] and one["audio_url"] is None
        assert one["metadata"] == {"tools_used": [], "data_collected": {}}
        error = failure(await client.get(f"/v1/api/conversations/{call}/audio"), 404, "NOT_FOUND")
        assert "not over" in error["message"]

        # An agent on a call is locked against deletion; after the call it goes.
        failure(await client.delete(f"/v1/api/agents/{medical}"), 409, "RESOURCE_LOCKED")
        ended = await client.post(f"/conversations/{call}/end")
        assert ended.status_code == 202, ended.text
        stats = data(await client.get("/v1/api/agents/list"))["agents"][0]["stats"]
        assert stats == {"total_calls": 1, "success_rate": 1.0}

        # Webhooks, as documented.
        hook = data(await client.post("/v1/api/webhooks", json=WEBHOOK), 201)
        assert hook["url"] == WEBHOOK["url"] and sorted(hook["events"]) == sorted(WEBHOOK["events"])
        hooks = data(await client.get("/v1/api/webhooks"))["webhooks"]
        assert [h["id"] for h in hooks] == [hook["id"]]

        # Delete, as documented.
        deleted = await client.delete(f"/v1/api/agents/{medical}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["success"] is True
        assert deleted.json()["message"] == "Agent deleted successfully"
        failure(await client.get(f"/v1/api/agents/{medical}"), 404, "AGENT_NOT_FOUND")


async def test_documented_error_codes(api_server: ApiServer):
    tenant = api_server.new_tenant("Voisa errors")
    async with client_of(api_server, "vsa_live_not_a_key") as client:
        failure(await client.get("/v1/api/agents/list"), 401, "INVALID_API_KEY")
    async with api_server.client() as client:
        failure(await client.get("/v1/api/verify"), 401, "INVALID_API_KEY")

    async with client_of(api_server, tenant) as client:
        error = failure(await client.get("/v1/api/agents/agt_123"), 404, "AGENT_NOT_FOUND")
        assert error["field"] == "id"
        failure(
            await client.put("/v1/api/agents/agt_123/update", json=UPDATE), 404, "AGENT_NOT_FOUND"
        )

        # Malformed requests name the field as the seed's body names it.
        def nested(section: str, values: dict) -> dict:
            return {"name": "A", "config": {section: values}}

        bad = [
            ({"description": "no name"}, "name"),
            (nested("voice", {"settings": {"speed": 3}}), "config.voice.settings.speed"),
            (nested("conversation", {"temperature": 2}), "config.conversation.temperature"),
            (nested("turn_detection", {"timeout": -1}), "config.turn_detection.timeout"),
            (nested("privacy", {"retention_days": 0}), "config.privacy.retention_days"),
            (nested("voice", {"stabilty": 0.5}), "config.voice.stabilty"),
            ({"name": "A", "status": "training"}, "status"),
        ]
        for body, field in bad:
            error = failure(
                await client.post("/v1/api/agents/create", json=body), 400, "INVALID_REQUEST"
            )
            assert error["field"] == field, (body, error)
            assert field.split(".")[-1] in error["message"], error
        agent = data(await client.post("/v1/api/agents/create", json=CURL_CREATE), 201)
        error = failure(
            await client.put(f"/v1/api/agents/{agent['id']}/update", json={"name": None}),
            400,
            "INVALID_REQUEST",
        )
        assert error["field"] == "name"
        failure(
            await client.get("/v1/api/agents/list", params={"status": "busy"}),
            400,
            "INVALID_REQUEST",
        )
        failure(
            await client.get("/v1/api/conversations/list", params={"date_from": "yesterday"}),
            400,
            "INVALID_REQUEST",
        )
        failure(await client.get("/v1/api/conversations/conv_nope"), 404, "NOT_FOUND")

        # A key scoped to a deployment serves its chat only.
        deployed = await client.post(
            "/api/v1/chat/deployments",
            json={"agent_id": agent["id"], "channel": "web", "region": "eu-west-1"},
        )
        assert deployed.status_code == 201, deployed.text
        issued = await client.post(
            f"/api/v1/chat/deployments/{deployed.json()['id']}/keys", json={"name": "site"}
        )
        assert issued.status_code == 201, issued.text
    async with client_of(api_server, issued.json()["key"]) as scoped:
        failure(await scoped.get("/v1/api/agents/list"), 403, "INSUFFICIENT_PERMISSIONS")

    # Another company's key finds nothing of this one's: 404, never 403 with details.
    async with client_of(api_server, api_server.globex) as other:
        failure(await other.get(f"/v1/api/agents/{agent['id']}"), 404, "AGENT_NOT_FOUND")
        failure(
            await other.put(f"/v1/api/agents/{agent['id']}/update", json=UPDATE),
            404,
            "AGENT_NOT_FOUND",
        )
        failure(await other.delete(f"/v1/api/agents/{agent['id']}"), 404, "AGENT_NOT_FOUND")
        listed = data(await other.get("/v1/api/agents/list"))
        assert agent["id"] not in [a["id"] for a in listed["agents"]]
        failure(
            await other.get("/v1/api/conversations/list", params={"agent_id": agent["id"]}),
            404,
            "AGENT_NOT_FOUND",
        )


async def test_rate_limit_tiers(api_server: ApiServer):
    tenant = api_server.new_tenant("Voisa tiers")
    pro = admin(api_server.database_url, "create-key", tenant.company_id, "--rate-limit", "pro")
    custom = admin(
        api_server.database_url, "create-key", tenant.company_id, "--rate-limit", "3/minute"
    )
    async with client_of(api_server, pro["api_key"]) as client:
        assert data(await client.get("/v1/api/verify"))["rate_limit"] == "500/minute"
    async with client_of(api_server, custom["api_key"]) as client:
        for _ in range(3):
            data(await client.get("/v1/api/verify"))
        resp = await client.get("/v1/api/agents/list")
        failure(resp, 429, "RATE_LIMIT_EXCEEDED")
        assert int(resp.headers["Retry-After"]) >= 1
    # The company's other keys are counted on their own.
    async with client_of(api_server, tenant) as client:
        data(await client.get("/v1/api/agents/list"))
    changed = admin(api_server.database_url, "set-rate-limit", custom["key_id"], "standard")
    assert changed["rate_limit"] == "standard"


@pytest.mark.parametrize("value", ["platinum", "lots/minute"])
def test_an_unknown_rate_limit_is_refused_by_the_admin_command(
    sqlite_api: ApiServer, value: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "control_plane", "create-key", sqlite_api.acme.company_id,
         "--rate-limit", value],
        env={**os.environ, "DATABASE_URL": sqlite_api.database_url},
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "neither a tier" in result.stdout + result.stderr
