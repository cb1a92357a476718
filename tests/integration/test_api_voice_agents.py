"""The voice-agents API, replayed from the seed's curl examples against a running server, on
SQLite and PostgreSQL: fields, defaults, partial updates, errors, auth and company isolation."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.integration.conftest import ApiServer, admin

# The seed's `POST /voice-agents` body, verbatim.
SEED_CREATE = {
    "name": "Customer Support Voice",
    "voice_id": "EXAVITQu4vr4xnSDxMaL",
    "voice_name": "Sarah",
    "description": "Friendly female voice for customer support",
    "language": "en",
    "model_id": "eleven_turbo_v2_5",
    "active": True,
    "temperature": 0.7,
    "voice_speed": 100.0,
    "voice_stability": 0.5,
    "voice_similarity_boost": 0.75,
    "voice_style": 0.0,
    "output_format": "mp3_44100_128",
}
# The seed's `PUT /voice-agents/{id}` body, verbatim.
SEED_UPDATE = {
    "name": "Updated Voice Agent",
    "voice_stability": 0.7,
    "voice_speed": 110.0,
    "active": True,
}
SEED_RESPONSE_FIELDS = {
    "id", "name", "description", "voice_id", "voice_name", "language", "model_id", "active",
    "temperature", "voice_speed", "voice_stability", "voice_similarity_boost", "voice_style",
    "output_format", "company_id", "created_at", "updated_at",
}  # fmt: skip

TURN_DEFAULTS = {
    "vad": "silero",
    "min_silence_duration": 0.6,
    "semantic_silence_duration": 0.3,
    "semantic_threshold": 0.5,
    "min_endpointing_delay": 0.05,
    "max_endpointing_delay": 3.0,
    "allow_interruptions": True,
    "min_interruption_duration": 0.06,
    "greeting_protection": 1.0,
    "false_interruption_timeout": 1.0,
    "duck_duration": 0.5,
    "stt_silence_duration": 0.15,
    "min_speech_duration": 0.1,
    "vad_aggressiveness": 2,
    "vad_frame_ms": 20,
}
"""Turn-taking settings beyond the seed's, with their measured defaults."""


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), f"timestamps are UTC with a Z suffix: {value}"
    return datetime.fromisoformat(value)


async def test_seed_examples_replay(api_server: ApiServer):
    async with api_server.client(api_server.acme) as client:
        # List: empty for a new company.
        resp = await client.get("/voice-agents")
        assert resp.status_code == 200 and resp.json() == []

        # Create: every field of the request comes back, plus the seed's response fields.
        resp = await client.post("/voice-agents", json=SEED_CREATE)
        assert resp.status_code == 201, resp.text
        agent = resp.json()
        assert set(agent) >= SEED_RESPONSE_FIELDS
        assert {k: agent[k] for k in SEED_CREATE} == SEED_CREATE
        assert agent["company_id"] == api_server.acme.company_id
        assert agent["created_at"] == agent["updated_at"]
        created = parse_time(agent["created_at"])

        resp = await client.get("/voice-agents")
        assert [a["id"] for a in resp.json()] == [agent["id"]]

        # Update (partial): the given fields change, the others keep their values.
        resp = await client.put(f"/voice-agents/{agent['id']}", json=SEED_UPDATE)
        assert resp.status_code == 200, resp.text
        updated = resp.json()
        assert {k: updated[k] for k in SEED_UPDATE} == SEED_UPDATE
        untouched = set(SEED_CREATE) - set(SEED_UPDATE)
        assert {k: updated[k] for k in untouched} == {k: SEED_CREATE[k] for k in untouched}
        assert updated["created_at"] == agent["created_at"]
        assert parse_time(updated["updated_at"]) > created

        resp = await client.get(f"/voice-agents/{agent['id']}")
        assert resp.status_code == 200 and resp.json() == updated

        # Delete, then it is gone.
        resp = await client.delete(f"/voice-agents/{agent['id']}")
        assert resp.status_code == 204
        resp = await client.get(f"/voice-agents/{agent['id']}")
        assert resp.status_code == 404
        assert resp.json()["detail"] == "Voice agent not found"
        resp = await client.delete(f"/voice-agents/{agent['id']}")
        assert resp.status_code == 404


async def test_create_applies_the_documented_defaults(api_server: ApiServer):
    async with api_server.client(api_server.acme) as client:
        resp = await client.post("/voice-agents", json={"name": "Min", "voice_id": "abc"})
        assert resp.status_code == 201, resp.text
        agent = resp.json()
    assert agent["active"] is False
    assert agent["temperature"] == 0.7
    assert agent["voice_speed"] == 100
    assert agent["voice_stability"] == 0.5
    assert agent["voice_similarity_boost"] == 0.5
    assert agent["voice_style"] == 0.0
    assert agent["model_id"] == "eleven_turbo_v2_5"
    assert agent["output_format"] == "mp3_44100_128"
    assert agent["turn_detection"] == {
        "mode": "silence",
        "timeout": 7.0,
        "end_call_on_silence": 60.0,
        **TURN_DEFAULTS,
    }
    assert agent["custom_responses"] == {"farewell": None, "reprompt": None}
    assert agent["max_duration_seconds"] == 1800
    assert agent["privacy"] == {
        "retention_days": None,
        "zero_retention": False,
        "delete_audio": False,
    }
    assert agent["first_message"] and agent["system_prompt"]
    assert agent["description"] is None and agent["main_agent_id"] is None
    async with api_server.client(api_server.acme) as client:
        resp = await client.post("/voice-agents", json={"name": "Only a name"})
        assert resp.status_code == 201, resp.text
    named = resp.json()
    assert named["voice_id"] == "local:en_US-joe-medium" and named["active"] is False
    assert named["agent_id"] == named["id"] and named["status"] == "inactive"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"voice_id": "abc"}, "name"),
        ({"name": "A", "voice_id": "local:"}, "voice_id"),
        ({"name": "A", "voice_type": "robot"}, "voice_type"),
        ({"name": "", "voice_id": "abc"}, "name"),
        ({"name": "A", "voice_id": "abc", "temperature": 1.5}, "temperature"),
        ({"name": "A", "voice_id": "abc", "voice_stability": -0.1}, "voice_stability"),
        ({"name": "A", "voice_id": "abc", "voice_similarity_boost": 2}, "voice_similarity_boost"),
        ({"name": "A", "voice_id": "abc", "voice_style": 1.01}, "voice_style"),
        ({"name": "A", "voice_id": "abc", "voice_speed": 500}, "voice_speed"),
        ({"name": "A", "voice_id": "abc", "output_format": "wav_44100"}, "output_format"),
        ({"name": "A", "voice_id": "abc", "language": "English please"}, "language"),
        ({"name": "A", "voice_id": "abc", "active": "maybe"}, "active"),
        ({"name": "A", "voice_id": "abc", "turn_detection": {"timeout": -1}}, "turn_detection"),
        (
            {
                "name": "A",
                "voice_id": "abc",
                "turn_detection": {"timeout": 30, "end_call_on_silence": 0},
            },
            "end_call_on_silence",
        ),
        ({"name": "A", "voice_id": "abc", "privacy": {"retention_days": 0}}, "retention_days"),
        ({"name": "A", "voice_id": "abc", "privacy": {"delete_audio": "yes"}}, "delete_audio"),
        ({"name": "A", "voice_id": "abc", "temperature": "0.5"}, "temperature"),
    ],
)
async def test_invalid_create_is_400_naming_the_field(api_server: ApiServer, body, field):
    async with api_server.client(api_server.acme) as client:
        before = (await client.get("/voice-agents")).json()
        resp = await client.post("/voice-agents", json=body)
        assert resp.status_code == 400, resp.text
        assert set(resp.json()) == {"detail", "error"}
        assert field in resp.json()["detail"]
        assert resp.json()["error"]["code"] == "invalid_request"
        assert (await client.get("/voice-agents")).json() == before  # nothing was stored


async def test_malformed_bodies_are_400(api_server: ApiServer):
    async with api_server.client(api_server.acme) as client:
        json_type = {"Content-Type": "application/json"}
        resp = await client.post("/voice-agents", content=b"{not json", headers=json_type)
        assert resp.status_code == 400
        assert "JSON" in resp.json()["detail"]
        resp = await client.post("/voice-agents", content=b"[1, 2]", headers=json_type)
        assert resp.status_code == 400
        assert "JSON object" in resp.json()["detail"]
        # A lone surrogate (valid JSON escape, not text) cannot be stored as UTF-8.
        before = (await client.get("/voice-agents")).json()
        for body in (
            b'{"name": "A\\ud800", "voice_id": "v"}',
            b'{"name": "A", "voice_id": "v", "system_prompt": "\\udfff"}',
        ):
            resp = await client.post("/voice-agents", content=body, headers=json_type)
            assert resp.status_code == 400, resp.text
            assert resp.json()["detail"].startswith(("name:", "system_prompt:")), resp.text
        assert (await client.get("/voice-agents")).json() == before


async def test_update_is_partial_and_validated(api_server: ApiServer):
    async with api_server.client(api_server.acme) as client:
        agent = (await client.post("/voice-agents", json=SEED_CREATE)).json()
        url = f"/voice-agents/{agent['id']}"

        # Nested settings merge with the stored ones.
        resp = await client.put(url, json={"turn_detection": {"timeout": 12}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["turn_detection"] == {
            "mode": "silence", "timeout": 12.0, "end_call_on_silence": 60.0, **TURN_DEFAULTS,
        }  # fmt: skip
        resp = await client.put(url, json={"custom_responses": {"farewell": "Bye now."}})
        assert resp.json()["custom_responses"] == {"farewell": "Bye now.", "reprompt": None}
        resp = await client.put(url, json={"custom_responses": {"reprompt": "Hello?"}})
        assert resp.json()["custom_responses"] == {"farewell": "Bye now.", "reprompt": "Hello?"}
        resp = await client.put(url, json={"max_duration_seconds": 5})
        assert resp.status_code == 400 and "max_duration_seconds" in resp.json()["detail"]
        resp = await client.put(url, json={"turn_detection": {"vad": "other"}})
        assert resp.status_code == 400 and "vad" in resp.json()["detail"]
        resp = await client.put(url, json={"privacy": {"delete_audio": True}})
        assert resp.json()["privacy"]["delete_audio"] is True
        assert resp.json()["turn_detection"]["timeout"] == 12.0

        # Invalid updates change nothing.
        current = (await client.get(url)).json()
        for body, field in [
            ({"name": None}, "name"),
            ({"temperature": 7}, "temperature"),
            ({"turn_detection": {"timeout": 900}}, "timeout"),
            ({"turn_detection": {"unknown": 1}}, "unknown"),
            ({"output_format": "flac"}, "output_format"),
        ]:
            resp = await client.put(url, json=body)
            assert resp.status_code == 400, (body, resp.text)
            assert field in resp.json()["detail"]
        assert (await client.get(url)).json() == current

        # An empty update is a no-op.
        resp = await client.put(url, json={})
        assert resp.status_code == 200 and resp.json() == current


async def test_api_key_is_required(api_server: ApiServer):
    async with api_server.client() as client:
        for method, path in [
            ("GET", "/voice-agents"),
            ("POST", "/voice-agents"),
            ("GET", "/voice-agents/english"),
            ("POST", "/voice-agents/stt"),
            ("POST", "/conversations"),
        ]:
            resp = await client.request(method, path)
            assert resp.status_code == 401, (method, path, resp.text)
            assert "x-api-key" in resp.json()["detail"]
            resp = await client.request(method, path, headers={"x-api-key": "vak_not-a-key"})
            assert resp.status_code == 401
            assert resp.json()["detail"] == "Invalid API key"


async def test_revoked_key_is_refused(api_server: ApiServer):
    tenant = api_server.new_tenant("Initech")
    async with api_server.client(tenant) as client:
        assert (await client.get("/voice-agents")).status_code == 200
        admin(api_server.database_url, "revoke-key", tenant.key_id)
        assert (await client.get("/voice-agents")).status_code == 401


async def test_keys_are_stored_hashed(api_server: ApiServer):
    listed = admin(api_server.database_url, "list-keys", "--company-id", api_server.acme.company_id)
    assert [k["key_id"] for k in listed] == [api_server.acme.key_id]
    assert api_server.acme.api_key not in str(listed)
    assert api_server.acme.api_key.startswith(listed[0]["prefix"])


async def test_companies_cannot_see_each_others_agents(api_server: ApiServer):
    async with (
        api_server.client(api_server.acme) as acme,
        api_server.client(api_server.globex) as globex,
    ):
        agent = (await acme.post("/voice-agents", json=SEED_CREATE)).json()
        url = f"/voice-agents/{agent['id']}"

        assert agent["id"] not in [a["id"] for a in (await globex.get("/voice-agents")).json()]
        for method, body in [("GET", None), ("PUT", {"name": "Hijacked"}), ("DELETE", None)]:
            resp = await globex.request(method, url, json=body)
            assert resp.status_code == 404, (method, resp.text)
            assert resp.json()["detail"] == "Voice agent not found"
        resp = await globex.post("/conversations", json={"agent_id": agent["id"], "user_id": "u1"})
        assert resp.status_code == 404

        # A company_id in the body is ignored: agents belong to the key's company.
        resp = await globex.post(
            "/voice-agents", json={**SEED_CREATE, "company_id": api_server.acme.company_id}
        )
        assert resp.json()["company_id"] == api_server.globex.company_id

        assert (await acme.get(url)).json() == agent  # untouched


async def test_unknown_or_malformed_ids_are_404(api_server: ApiServer):
    async with api_server.client(api_server.acme) as client:
        for agent_id in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"]:
            resp = await client.get(f"/voice-agents/{agent_id}")
            assert resp.status_code == 404
            assert resp.json()["detail"] == "Voice agent not found"


async def test_start_conversation_returns_connection_details(api_server: ApiServer):
    from livekit import api

    async with api_server.client(api_server.acme) as client:
        agent = (await client.post("/voice-agents", json={**SEED_CREATE, "active": False})).json()
        body = {
            "agent_id": agent["id"],
            "user_id": "usr_789012",
            "language": "en-US",
            "initial_context": {"customer_name": "John Doe"},
        }
        resp = await client.post("/conversations", json=body)
        assert resp.status_code == 409
        assert "not active" in resp.json()["detail"]

        await client.put(f"/voice-agents/{agent['id']}", json={"active": True})
        resp = await client.post("/conversations", json=body)
        assert resp.status_code == 201, resp.text
        started = resp.json()
    details = started["connection_details"]
    assert started["status"] == "active"
    assert started["agent_id"] == agent["id"]
    assert details["websocket_url"].startswith("ws")
    assert details["room_name"] == started["conversation_id"]

    # The token lets this user join this room only, and dispatches the agent by id.
    import json

    from simulator.stack import livekit_keys

    key, secret = livekit_keys()
    claims = api.TokenVerifier(key, secret).verify(details["token"])
    assert claims.identity == "usr_789012"
    assert claims.video.room == started["conversation_id"] and claims.video.room_join
    (dispatch,) = claims.room_config.agents
    metadata = json.loads(dispatch.metadata)
    assert metadata["agent_id"] == agent["id"]
    assert metadata["company_id"] == api_server.acme.company_id
    assert metadata["initial_context"] == {"customer_name": "John Doe"}
    assert metadata["language"] == "en-US"
