"""Provider keys through the API, against local fake ElevenLabs and OpenAI servers: checked
before they are saved, stored encrypted, shown masked, scoped to their company (or agent), and
used for the voice catalog and ElevenLabs speech."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from control_plane.security import ProviderKeyVault
from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import ProviderKey
from fake_providers.elevenlabs import FakeElevenLabs
from shared.audio import decode_to_mono
from tests.conftest import ELEVENLABS_KEY, ELEVENLABS_OTHER_KEY, OPENAI_KEY, PROVIDER_KEYS_SECRET
from tests.integration.conftest import ApiServer

pytestmark = pytest.mark.integration

PREMADE_VOICE = "EXAVITQu4vr4xnSDxMaL"  # Sarah, in the curated catalog and the fake's premades


def own_voice_ids(fake: FakeElevenLabs, key: str) -> set[str]:
    """The voices the fake says belong to `key`'s account (cloned or generated)."""
    resp = httpx.get(f"{fake.base_url}/voices", headers={"xi-api-key": key}, timeout=10)
    resp.raise_for_status()
    own = {v["voice_id"] for v in resp.json()["voices"] if v["category"] != "premade"}
    assert own, "the fake lists no own voices for the key"
    return own


async def stored_keys(database_url: str) -> list[ProviderKey]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return list((await session.scalars(select(ProviderKey))).all())
    finally:
        await engine.dispose()


async def test_connect_checks_the_key_stores_it_encrypted_and_shows_it_masked(
    api_server: ApiServer,
):
    async with api_server.client(api_server.acme) as acme:
        status = await acme.get("/integrations/elevenlabs")
        assert status.json() == {"connected": False, "masked_key": None}

        # A key ElevenLabs refuses is a 400 naming invalid_key, and is not saved.
        resp = await acme.post("/integrations/elevenlabs", json={"api_key": "sk_wrong_key_999"})
        assert resp.status_code == 400
        assert resp.json()["detail"].startswith("invalid_key")
        assert (await acme.get("/integrations/elevenlabs")).json()["connected"] is False

        # Testing saves nothing either way.
        for key, valid in [(ELEVENLABS_KEY, True), ("sk_wrong_key_999", False)]:
            resp = await acme.post("/integrations/elevenlabs/test", json={"api_key": key})
            assert resp.status_code == 200 and resp.json() == {"valid": valid}
        assert (await acme.get("/integrations/elevenlabs")).json()["connected"] is False

        resp = await acme.post("/integrations/elevenlabs", json={"api_key": ELEVENLABS_KEY})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"connected": True, "user": {"subscription": {"tier": "creator"}}}
        status = (await acme.get("/integrations/elevenlabs")).json()
        assert status == {"connected": True, "masked_key": "***" + ELEVENLABS_KEY[-4:]}

        resp = await acme.post("/integrations/openai", json={"api_key": OPENAI_KEY})
        assert resp.status_code == 200, resp.text
        resp = await acme.post("/integrations/openai", json={"api_key": "sk-not-valid-123"})
        assert resp.status_code == 400 and resp.json()["detail"].startswith("invalid_key")
        # The refused replacement left the saved key alone.
        status = (await acme.get("/integrations/openai")).json()
        assert status == {"connected": True, "masked_key": "***" + OPENAI_KEY[-4:]}

    # Another company sees none of it.
    async with api_server.client(api_server.globex) as globex:
        for provider in ("elevenlabs", "openai"):
            status = (await globex.get(f"/integrations/{provider}")).json()
            assert status == {"connected": False, "masked_key": None}

    # At rest: ciphertext only, which the deployment's secret opens.
    rows = await stored_keys(api_server.database_url)
    vault = ProviderKeyVault([PROVIDER_KEYS_SECRET])
    by_provider = {row.provider: row for row in rows if row.agent_id is None}
    for provider, key in [("elevenlabs", ELEVENLABS_KEY), ("openai", OPENAI_KEY)]:
        row = by_provider[provider]
        assert key not in row.ciphertext
        assert vault.decrypt(row.ciphertext) == key
    assert str(by_provider["elevenlabs"].company_id) == api_server.acme.company_id

    async with api_server.client(api_server.acme) as acme:
        resp = await acme.delete("/integrations/openai")
        assert resp.status_code == 204
        assert (await acme.get("/integrations/openai")).json()["connected"] is False


async def test_provider_down_at_connect_is_a_502_and_saves_nothing(
    sqlite_api: ApiServer, fake_elevenlabs: FakeElevenLabs
):
    tenant = sqlite_api.new_tenant("Outage Ltd")
    fake_elevenlabs.set_fault("user", status=503)
    try:
        async with sqlite_api.client(tenant) as client:
            resp = await client.post("/integrations/elevenlabs", json={"api_key": ELEVENLABS_KEY})
            assert resp.status_code == 502
            assert "ElevenLabs" in resp.json()["detail"]
            assert ELEVENLABS_KEY not in resp.text
            assert (await client.get("/integrations/elevenlabs")).json()["connected"] is False
    finally:
        fake_elevenlabs.state.faults.pop("user", None)


async def test_catalog_and_speech_use_the_companys_elevenlabs_key(
    sqlite_api: ApiServer, fake_elevenlabs: FakeElevenLabs
):
    with_key = sqlite_api.new_tenant("Voices Co")
    without_key = sqlite_api.new_tenant("No Key Co")
    own = await asyncio.to_thread(own_voice_ids, fake_elevenlabs, ELEVENLABS_OTHER_KEY)
    async with sqlite_api.client(with_key) as client, sqlite_api.client(without_key) as other:
        resp = await client.post("/integrations/elevenlabs", json={"api_key": ELEVENLABS_OTHER_KEY})
        assert resp.status_code == 200, resp.text

        listed = {v["voice_id"] for v in (await client.get("/voice-agents/english")).json()}
        assert own <= listed
        listed_other = {v["voice_id"] for v in (await other.get("/voice-agents/english")).json()}
        assert not own & listed_other

        body = {"text": "Good morning, your table is ready.", "voice_speed": 110}
        url = f"/voice-agents/elevenlabs/voices/{PREMADE_VOICE}/tts?output_format=mp3_44100_128"
        resp = await client.post(url, json=body)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "audio/mpeg"
        audio = decode_to_mono(resp.content, 16000)
        assert len(audio) / 16000 > 1.0
        assert np.abs(audio).max() > 0.05  # speech, not silence

        # The request reached ElevenLabs with this company's key and the agent's settings.
        tts_calls = [r for r in fake_elevenlabs.state.requests if r.route == "tts_stream"]
        assert tts_calls and tts_calls[-1].api_key == ELEVENLABS_OTHER_KEY

        resp = await other.post(url, json=body)
        assert resp.status_code == 409
        assert "no ElevenLabs API key" in resp.json()["detail"]

        resp = await client.post(
            "/voice-agents/elevenlabs/voices/NoSuchVoice000/tts", json={"text": "Hello"}
        )
        assert resp.status_code == 404

        assert (await client.delete("/integrations/elevenlabs")).status_code == 204
        resp = await client.post(url, json=body)
        assert resp.status_code == 409


async def test_an_agents_own_key_through_the_voice_api(
    sqlite_api: ApiServer, fake_elevenlabs: FakeElevenLabs
):
    tenant = sqlite_api.new_tenant("Agent Keys Co")
    own = await asyncio.to_thread(own_voice_ids, fake_elevenlabs, ELEVENLABS_KEY)
    async with sqlite_api.client(tenant) as client:
        agent = (
            await client.post("/voice-agents", json={"name": "A", "voice_id": PREMADE_VOICE})
        ).json()
        path = f"/v1/agents/{agent['id']}/voice/integrations/elevenlabs"
        assert (await client.get(path)).json() == {"connected": False, "masked_key": None}

        library = (await client.get(f"/v1/agents/{agent['id']}/voice/library")).json()
        assert library["total"] == len(library["voices"])
        sources = {v["source"] for v in library["voices"]}
        assert sources == {"local", "public"}

        resp = await client.post(path + "/test", json={"api_key": "sk_bad"})
        assert resp.json() == {"valid": False}
        resp = await client.post(path, json={"api_key": "sk_bad"})
        assert resp.status_code == 400 and resp.json()["detail"].startswith("invalid_key")

        resp = await client.post(path, json={"api_key": ELEVENLABS_KEY})
        assert resp.status_code == 200
        assert resp.json()["user"]["subscription"]["tier"] == "creator"
        assert (await client.get(path)).json()["masked_key"] == "***" + ELEVENLABS_KEY[-4:]
        # The agent's key is not the company's.
        assert (await client.get("/integrations/elevenlabs")).json()["connected"] is False

        resp = await client.get(
            f"/v1/agents/{agent['id']}/voice/library", params={"source": "user_elevenlabs"}
        )
        mine = resp.json()["voices"]
        assert {v["voice_id"] for v in mine} == own
        assert all(v["source"] == "user_elevenlabs" for v in mine)

        # No response ever carries the key.
        for url in (
            path,
            f"/voice-agents/{agent['id']}",
            f"/v1/agents/{agent['id']}/voice/library",
        ):
            assert ELEVENLABS_KEY not in (await client.get(url)).text

        assert (await client.delete(path)).status_code == 204
        assert (await client.get(path)).json()["connected"] is False

    # Another company cannot see or touch the agent's integration.
    async with sqlite_api.client(sqlite_api.globex) as globex:
        assert (await globex.get(path)).status_code == 404
        assert (await globex.post(path, json={"api_key": ELEVENLABS_KEY})).status_code == 404
        assert (await globex.get(f"/v1/agents/{agent['id']}/voice/library")).status_code == 404


async def test_bad_key_bodies_are_400s(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        for body in ({}, {"api_key": ""}, {"api_key": 5}, {"api_key": "has space"}):
            resp = await client.post("/integrations/elevenlabs/test", json=body)
            assert resp.status_code == 400, body
            assert "api_key" in resp.json()["detail"]
        resp = await client.get("/integrations/azure")
        assert resp.status_code in (400, 404)
