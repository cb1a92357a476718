"""The phone API without a call: the Twilio account (checked with the fake Twilio, stored
encrypted, shown masked), phone numbers scoped to their company, and the clear refusals of
calls that cannot be placed or transferred."""

from __future__ import annotations

import json

import pytest

from control_plane.security import ProviderKeyVault
from tests.conftest import PROVIDER_KEYS_SECRET, TWILIO_ACCOUNT, TWILIO_TOKEN
from tests.integration.conftest import ApiServer
from tests.integration.test_api_integrations import stored_keys

pytestmark = pytest.mark.integration

ACCOUNT = {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN}


async def new_agent(client) -> str:  # type: ignore[no-untyped-def]
    resp = await client.post("/voice-agents", json={"name": "Front desk", "active": True})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def test_the_twilio_account_is_checked_stored_encrypted_and_shown_masked(
    api_server: ApiServer,
) -> None:
    async with api_server.client(api_server.acme) as acme:
        assert (await acme.get("/integrations/twilio")).json()["connected"] is False
        wrong = {**ACCOUNT, "auth_token": "not-the-token-at-all"}
        resp = await acme.post("/integrations/twilio", json=wrong)
        assert resp.status_code == 400, resp.text
        assert resp.json()["detail"].startswith("invalid_credentials")
        assert (await acme.get("/integrations/twilio")).json()["connected"] is False
        for body, valid in [(ACCOUNT, True), (wrong, False)]:
            resp = await acme.post("/integrations/twilio/test", json=body)
            assert resp.status_code == 200 and resp.json()["valid"] is valid, resp.text
        assert (await acme.get("/integrations/twilio")).json()["connected"] is False

        resp = await acme.post("/integrations/twilio", json=ACCOUNT)
        assert resp.status_code == 200, resp.text
        status = (await acme.get("/integrations/twilio")).json()
        assert status == {
            "connected": True,
            "account_sid": TWILIO_ACCOUNT,
            "masked_auth_token": "***" + TWILIO_TOKEN[-4:],
        }
        assert TWILIO_TOKEN not in resp.text
        resp = await acme.post("/integrations/twilio", json={**ACCOUNT, "account_sid": "AC12"})
        assert resp.status_code == 400 and "account_sid" in resp.json()["detail"]

    rows = [r for r in await stored_keys(api_server.database_url) if r.provider == "twilio"]
    assert len(rows) == 1 and TWILIO_TOKEN not in rows[0].ciphertext
    secret = json.loads(ProviderKeyVault([PROVIDER_KEYS_SECRET]).decrypt(rows[0].ciphertext))
    assert secret == ACCOUNT

    async with api_server.client(api_server.globex) as globex:
        assert (await globex.get("/integrations/twilio")).json()["connected"] is False
    async with api_server.client(api_server.acme) as acme:
        assert (await acme.delete("/integrations/twilio")).status_code == 204
        assert (await acme.delete("/integrations/twilio")).status_code == 404


async def test_phone_numbers_belong_to_one_company(api_server: ApiServer) -> None:
    number = "+15550100001"
    async with (
        api_server.client(api_server.acme) as acme,
        api_server.client(api_server.globex) as globex,
    ):
        agent_id = await new_agent(acme)
        other_agent = await new_agent(globex)
        resp = await acme.post("/phone-numbers", json={"number": "555-0100", "agent_id": agent_id})
        assert resp.status_code == 400 and "number" in resp.json()["detail"]
        # Another company's agent cannot answer acme's number.
        resp = await acme.post("/phone-numbers", json={"number": number, "agent_id": other_agent})
        assert resp.status_code == 404, resp.text
        resp = await acme.post("/phone-numbers", json={"number": number, "agent_id": agent_id})
        assert resp.status_code == 201, resp.text
        number_id = resp.json()["id"]
        assert resp.json()["agent_id"] == agent_id

        # Registered once: not again, and not by another company.
        for client in (acme, globex):
            resp = await client.post("/phone-numbers", json={"number": number})
            assert resp.status_code == 409 and "already registered" in resp.json()["detail"]
        assert number not in [
            n["number"] for n in (await globex.get("/phone-numbers")).json()["phone_numbers"]
        ]
        assert (
            await globex.put(f"/phone-numbers/{number_id}", json={"label": "x"})
        ).status_code == 404
        assert (await globex.delete(f"/phone-numbers/{number_id}")).status_code == 404

        resp = await acme.put(
            f"/phone-numbers/{number_id}", json={"agent_id": None, "label": "Desk"}
        )
        assert resp.status_code == 200 and resp.json()["agent_id"] is None
        assert resp.json()["label"] == "Desk"
        listed = (await acme.get("/phone-numbers")).json()["phone_numbers"]
        assert [n["number"] for n in listed if n["id"] == number_id] == [number]
        assert (await acme.delete(f"/phone-numbers/{number_id}")).status_code == 204
        assert (await acme.delete(f"/phone-numbers/{number_id}")).status_code == 404


async def test_calls_that_cannot_be_placed_or_transferred_say_why(api_server: ApiServer) -> None:
    async with api_server.client(api_server.globex) as globex:
        agent_id = await new_agent(globex)
        call = {"agent_id": agent_id, "to": "+15550109999"}
        resp = await globex.post("/phone-calls", json={**call, "to": "0109999"})
        assert resp.status_code == 400 and "to" in resp.json()["detail"]
        # No number to call from, then no Twilio account: 409s that say what to do.
        resp = await globex.post("/phone-calls", json=call)
        assert resp.status_code == 409 and "POST /phone-numbers" in resp.json()["detail"]
        number = "+15550200002"
        resp = await globex.post("/phone-numbers", json={"number": number, "agent_id": agent_id})
        assert resp.status_code == 201, resp.text
        resp = await globex.post("/phone-calls", json=call)
        assert resp.status_code == 409 and "POST /integrations/twilio" in resp.json()["detail"]
        resp = await globex.post(
            "/v1/api/make-call", json={"agent_id": agent_id, "phone_number": "+15550109999"}
        )
        assert resp.status_code == 409 and resp.json()["success"] is False
        # A context too large to travel with the call, on both routes and on a plain call.
        large = {"notes": "x" * 9000}
        resp = await globex.post("/phone-calls", json={**call, "initial_context": large})
        assert resp.status_code == 400 and "initial_context" in resp.json()["detail"]
        resp = await globex.post(
            "/v1/api/make-call",
            json={"agent_id": agent_id, "phone_number": "+15550109999", "context": large},
        )
        assert resp.status_code == 400 and resp.json()["error"]["field"] == "context"
        resp = await globex.post(
            "/conversations", json={"agent_id": agent_id, "user_id": "u", "initial_context": large}
        )
        assert resp.status_code == 400 and "initial_context" in resp.json()["detail"]
        resp = await globex.post(
            "/v1/api/make-call", json={"agent_id": "agt_123", "phone_number": "+15550109999"}
        )
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "AGENT_NOT_FOUND"
        assert (await globex.get("/conversations")).json()["total"] == 0

        # A call placed through the API (no phone line) cannot be transferred.
        started = await globex.post("/conversations", json={"agent_id": agent_id, "user_id": "u"})
        assert started.status_code == 201, started.text
        conversation_id = started.json()["conversation_id"]
        resp = await globex.post(
            f"/conversations/{conversation_id}/transfer", json={"to": "+15550108888"}
        )
        assert resp.status_code == 409 and "phone call" in resp.json()["detail"]
    async with api_server.client(api_server.acme) as acme:
        resp = await acme.post(
            f"/conversations/{conversation_id}/transfer", json={"to": "+15550108888"}
        )
        assert resp.status_code == 404
