"""Seed 004's examples, replayed in order on the native routes (it names no paths: `POST
/voice-agents`, `POST /conversations`, `GET /conversations/{id}`, `POST
/conversations/{id}/end`, `POST /webhooks`) with `Authorization: Bearer`, on SQLite and
PostgreSQL: its bodies accepted as written, its answers' fields, its error shape."""

from __future__ import annotations

import base64
import json

import httpx

from .conftest import ApiServer, Tenant

CREATE_AGENT = {
    "name": "Customer Support Agent",
    "language": "en-US",
    "voice_type": "female",
    "personality": "professional",
    "custom_responses": {
        "greeting": "Hello, how can I help you today?",
        "farewell": "Thank you for your time. Have a great day!",
    },
}
START = {
    "agent_id": "agt_123456",  # replaced by the created agent's id
    "user_id": "usr_789012",
    "language": "en-US",
    "initial_context": {"customer_name": "John Doe", "previous_interaction": "Product Inquiry"},
    "settings": {"voice_speed": 1.0, "voice_pitch": "medium", "recording_enabled": True},
}
END = {"reason": "resolved", "feedback": {"rating": 5, "comments": "Issue resolved successfully"}}
WEBHOOK = {
    "url": "https://your-domain.com/webhook",
    "events": ["conversation.started", "conversation.ended", "message.received", "agent.handoff"],
    "secret": "whsec_123456789",
    "description": "Production webhook for conversation events",
}


def client_of(api_server: ApiServer, tenant: Tenant) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=api_server.base_url,
        headers={"Authorization": f"Bearer {tenant.api_key}"},
        timeout=60,
    )


def dispatch_of(token: str) -> dict:
    """The agent dispatch's metadata a LiveKit token carries (its payload, not verified)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    (agent,) = claims["roomConfig"]["agents"]
    return json.loads(agent["metadata"])


def seed_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and error["message"] and error["type"], error
    return error


async def test_documented_examples_replay(api_server: ApiServer):
    tenant = api_server.new_tenant("Nevox replay")
    async with client_of(api_server, tenant) as client:
        created = await client.post("/voice-agents", json=CREATE_AGENT)
        assert created.status_code == 201, created.text
        agent = created.json()
        assert agent["agent_id"] == agent["id"] and agent["status"] == "active"
        assert agent["name"] == "Customer Support Agent" and agent["created_at"]
        # The greeting is the first message; the farewell is kept; a female voice was chosen.
        assert agent["first_message"] == CREATE_AGENT["custom_responses"]["greeting"]
        assert agent["custom_responses"]["farewell"] == CREATE_AGENT["custom_responses"]["farewell"]
        assert agent["personality"] == "professional" and agent["language"] == "en-US"
        voices = (await client.get("/voice-agents/english", params={"gender": "female"})).json()
        assert agent["voice_id"] in {v["voice_id"] for v in voices}

        started = await client.post("/conversations", json={**START, "agent_id": agent["id"]})
        assert started.status_code == 201, started.text
        conversation = started.json()
        assert conversation["status"] == "active" and conversation["conversation_id"]
        details = conversation["connection_details"]
        assert details["websocket_url"] and details["token"]
        # The call's settings travel with the dispatch to the agent's worker.
        dispatch = dispatch_of(details["token"])
        assert dispatch["settings"] == START["settings"]
        assert dispatch["initial_context"] == START["initial_context"]
        assert dispatch["language"] == "en-US"

        cid = conversation["conversation_id"]
        history = await client.get(f"/conversations/{cid}")
        assert history.status_code == 200, history.text
        body = history.json()
        assert body["conversation_id"] == cid and body["messages"] == []
        assert {"sentiment_score", "user_satisfaction", "resolution_status"} <= set(body["metrics"])

        ended = await client.post(f"/conversations/{cid}/end", json=END)
        assert ended.status_code == 202, ended.text
        body = (await client.get(f"/conversations/{cid}")).json()
        assert body["metrics"]["user_satisfaction"] == "high"
        assert body["metrics"]["resolution_status"] == "resolved"
        assert body["feedback"] == END["feedback"]

        hook = await client.post("/webhooks", json=WEBHOOK)
        assert hook.status_code == 201, hook.text
        assert sorted(hook.json()["events"]) == sorted(WEBHOOK["events"])

        # The same key works as x-api-key.
        resp = await client.get(
            f"/voice-agents/{agent['id']}",
            headers={"Authorization": "", "x-api-key": tenant.api_key},
        )
        assert resp.status_code == 200, resp.text


async def test_errors_in_its_shape(api_server: ApiServer):
    tenant = api_server.new_tenant("Nevox errors")
    async with client_of(api_server, tenant) as client:
        error = seed_error(await client.post("/voice-agents", json={}), 400, "invalid_request")
        assert "name" in error["message"] and error["type"] == "invalid_request_error"
        resp = await client.post("/voice-agents", json={**CREATE_AGENT, "voice_type": "robot"})
        assert "voice_type" in seed_error(resp, 400, "invalid_request")["message"]
        resp = await client.post("/conversations", json={**START, "settings": {"voice_speed": 9}})
        seed_error(resp, 400, "invalid_request")
        error = seed_error(await client.get("/voice-agents/agt_123456"), 404, "agent_not_found")
        assert error["type"] == "not_found_error"
        seed_error(await client.post("/conversations", json=START), 404, "agent_not_found")
        seed_error(await client.get("/conversations/conv_123456"), 404, "not_found")
        agent = (await client.post("/voice-agents", json=CREATE_AGENT)).json()

    async with httpx.AsyncClient(
        base_url=api_server.base_url, headers={"Authorization": "Bearer nope"}
    ) as client:
        error = seed_error(await client.get("/voice-agents"), 401, "invalid_api_key")
        assert error["type"] == "authentication_error"

    # Another company's key: 404 on this company's agent, never 403 with details.
    async with client_of(api_server, api_server.globex) as other:
        seed_error(await other.get(f"/voice-agents/{agent['id']}"), 404, "agent_not_found")
        resp = await other.post("/conversations", json={**START, "agent_id": agent["id"]})
        seed_error(resp, 404, "agent_not_found")
