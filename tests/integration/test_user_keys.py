"""Seed 001's keys taken with a password: `POST /v1/api/get-api-key` and `GET /v1/api/verify`,
the permissions a key carries (read / write / delete / admin, 403 without), its expiry, and
the refusal of wrong credentials (one answer whichever part was wrong, then rate limited)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import ApiKey
from tests.integration.conftest import ApiServer

pytestmark = pytest.mark.integration

PASSWORD = "a long enough passphrase"


async def take_key(api_server: ApiServer, email: str, **extra: object) -> httpx.Response:
    async with api_server.client() as client:
        return await client.post(
            "/v1/api/get-api-key", json={"email": email, "password": PASSWORD, **extra}
        )


async def test_a_user_takes_a_key_with_their_password_and_it_does_what_the_role_may(
    api_server: ApiServer,
) -> None:
    email = api_server.new_user(api_server.acme, PASSWORD, role="admin")
    resp = await take_key(api_server, email.upper())  # the email's case does not matter
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["permissions"] == ["read", "write", "delete", "admin"]
    assert data["api_key"].startswith("vak_") and data["expires_at"]
    headers = {"Authorization": f"Bearer {data['api_key']}"}
    async with api_server.client(headers=headers) as client:
        verified = (await client.get("/v1/api/verify")).json()["data"]
        assert verified["account_id"] == api_server.acme.company_id
        assert verified["permissions"] == data["permissions"]
        assert verified["expires_at"] == data["expires_at"]
        assert (await client.get("/webhooks")).status_code == 200  # admin

    # A read-only key of the same user: reading works, changing is 403 and changes nothing.
    resp = await take_key(api_server, email, permissions=["read"], expires_in_days=1)
    assert resp.status_code == 201, resp.text
    headers = {"x-api-key": resp.json()["data"]["api_key"]}
    async with api_server.client(headers=headers) as client:
        assert (await client.get("/voice-agents")).status_code == 200
        resp = await client.post("/voice-agents", json={"name": "Nope"})
        assert resp.status_code == 403 and "`write` permission" in resp.json()["detail"]
        resp = await client.get("/webhooks")
        assert resp.status_code == 403 and "`admin`" in resp.json()["detail"]
        resp = await client.get("/v1/api/webhooks")
        assert resp.status_code == 403 and resp.json()["success"] is False
    async with api_server.client(api_server.acme) as owner:  # an admin command's key
        names = [a["name"] for a in (await owner.get("/voice-agents")).json()]
        assert "Nope" not in names

    # A member may not give a key more than a member may do.
    member = api_server.new_user(api_server.acme, PASSWORD, role="member")
    resp = await take_key(api_server, member, permissions=["read", "admin"])
    assert resp.status_code == 403 and resp.json()["error"]["field"] == "permissions"
    resp = await take_key(api_server, member)
    assert resp.json()["data"]["permissions"] == ["read", "write", "delete"]
    headers = {"x-api-key": resp.json()["data"]["api_key"]}
    async with api_server.client(headers=headers) as client:
        created = await client.post("/voice-agents", json={"name": "Member's"})
        assert created.status_code == 201, created.text
        resp = await client.post("/integrations/elevenlabs", json={"api_key": "sk-x"})
        assert resp.status_code == 403

    viewer = api_server.new_user(api_server.acme, PASSWORD, role="viewer")
    resp = await take_key(api_server, viewer)
    assert resp.json()["data"]["permissions"] == ["read"]
    headers = {"x-api-key": resp.json()["data"]["api_key"]}
    async with api_server.client(headers=headers) as client:
        agent_id = created.json()["id"]
        assert (await client.delete(f"/voice-agents/{agent_id}")).status_code == 403
        assert (await client.get(f"/voice-agents/{agent_id}")).status_code == 200


async def test_an_expired_key_is_refused_saying_so(api_server: ApiServer) -> None:
    email = api_server.new_user(api_server.globex, PASSWORD)
    resp = await take_key(api_server, email, expires_in_days=1)
    key, key_id = resp.json()["data"]["api_key"], resp.json()["data"]["key_id"]
    # A day passes.
    engine = create_engine(api_server.database_url)
    async with session_factory(engine)() as session:
        record = await session.get(ApiKey, uuid.UUID(key_id))
        assert record is not None
        record.expires_at = datetime(2020, 1, 1, tzinfo=UTC)
        await session.commit()
    await engine.dispose()
    async with api_server.client(headers={"x-api-key": key}) as client:
        resp = await client.get("/v1/api/verify")
        assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]
        resp = await client.get("/voice-agents")
        assert resp.status_code == 401 and "expired" in resp.json()["detail"]


async def test_wrong_credentials_do_not_say_which_part_and_are_rate_limited(
    api_server: ApiServer,
) -> None:
    email = api_server.new_user(api_server.globex, PASSWORD)
    async with api_server.client() as client:
        wrong_password = await client.post(
            "/v1/api/get-api-key", json={"email": email, "password": "not the password"}
        )
        unknown_email = await client.post(
            "/v1/api/get-api-key", json={"email": "nobody@example.com", "password": PASSWORD}
        )
        assert wrong_password.status_code == unknown_email.status_code == 401
        assert wrong_password.json()["error"] == unknown_email.json()["error"]
        # SIGN_IN_FAILURE_LIMIT (5/minute per email): the sixth wrong try is 429, and so is
        # the right password until the window passes.
        for _ in range(4):
            resp = await client.post(
                "/v1/api/get-api-key", json={"email": email, "password": "guess guess guess"}
            )
            assert resp.status_code == 401
        resp = await client.post(
            "/v1/api/get-api-key", json={"email": email, "password": "guess guess guess"}
        )
        assert resp.status_code == 429 and "retry" in resp.json()["error"]["message"]
        resp = await client.post("/v1/api/get-api-key", json={"email": email, "password": PASSWORD})
        assert resp.status_code == 429
