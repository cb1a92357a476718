"""The web console's pages over HTTP: signing in (one answer whichever part was wrong), CSRF on
every form (a forged post changes nothing), an expired session sent back to sign in, an agent
saved with an invalid field (the field marked, what was typed kept), roles, and companies
kept apart. The browser test (tests/e2e/test_console_browser.py) drives the same pages in
Chromium."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from html import unescape

import httpx
import pytest
from sqlalchemy import update

from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import ConsoleSession
from tests.conftest import ELEVENLABS_KEY
from tests.helpers import poll_until
from tests.integration.conftest import ApiServer, Tenant, admin
from tests.integration.test_chat import chat_agent

pytestmark = pytest.mark.integration

PASSWORD = "a long enough passphrase"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def field_value(html: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    assert found, f"no input {name}"
    return unescape(found.group(1))


async def expire_sessions(server: ApiServer) -> None:
    """Every console session of the server's store ends (as if its hours had passed)."""
    engine = create_engine(server.database_url)
    async with session_factory(engine)() as session:
        past = datetime(2020, 1, 1, tzinfo=UTC)
        await session.execute(update(ConsoleSession).values(expires_at=past))
        await session.commit()
    await engine.dispose()


@asynccontextmanager
async def signed_in(
    server: ApiServer, tenant: Tenant, role: str = "admin"
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of a new user of `tenant`, signed in to the console."""
    async with server.client(follow_redirects=False) as client:
        email = server.new_user(tenant, PASSWORD, role=role)
        page = await client.get("/console/sign-in")
        resp = await client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD},
        )
        assert resp.status_code == 303, resp.text
        assert resp.headers["location"] == "/console/agents"
        cookie = resp.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        yield client


async def test_sign_in_refuses_alike_and_pages_need_a_session(sqlite_api: ApiServer) -> None:
    async with sqlite_api.client(follow_redirects=False) as client:
        resp = await client.get("/console/agents")
        assert resp.status_code == 303
        assert resp.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fagents"
        email = sqlite_api.new_user(sqlite_api.acme, PASSWORD)
        page = await client.get("/console/sign-in")
        token = csrf_of(page.text)
        errors = []
        for who, password in ((email, "not the password"), ("nobody@example.com", PASSWORD)):
            resp = await client.post(
                "/console/sign-in", data={"csrf_token": token, "email": who, "password": password}
            )
            assert resp.status_code == 401
            errors.append(re.search(r'role="alert"[^>]*>([^<]+)<', resp.text).group(1))  # type: ignore[union-attr]
            assert field_value(resp.text, "email") == who  # kept, the password is not
        assert errors[0] == errors[1] == "Email or password is incorrect."
        # Without the sign-in form's token (a post from another site): refused.
        resp = await client.post("/console/sign-in", data={"email": email, "password": PASSWORD})
        assert resp.status_code == 403 and "Nothing was changed" in resp.text
        # Only a page of this console may be the next one.
        resp = await client.post(
            "/console/sign-in",
            data={"csrf_token": token, "email": email, "password": PASSWORD,
                  "next": "https://elsewhere.example/console"},
        )  # fmt: skip
        assert resp.status_code == 303 and resp.headers["location"] == "/console/agents"


async def test_forms_need_their_csrf_token_and_sessions_expire(sqlite_api: ApiServer) -> None:
    async with signed_in(sqlite_api, sqlite_api.acme) as client:
        page = await client.get("/console/agents/new")
        assert page.status_code == 200
        name = f"Forged {uuid.uuid4().hex[:6]}"
        resp = await client.post("/console/agents/new", data={"name": name})
        assert resp.status_code == 403
        resp = await client.post(
            "/console/agents/new", data={"name": name, "csrf_token": "not-the-token"}
        )
        assert resp.status_code == 403
        async with sqlite_api.client(sqlite_api.acme) as api:
            listed = (await api.get("/voice-agents")).json()
            assert name not in [a["name"] for a in listed]

        await expire_sessions(sqlite_api)  # the session's time runs out
        resp = await client.get("/console/agents/new")
        assert resp.status_code == 303
        assert resp.headers["location"].endswith("&reason=expired")
        resp = await client.get(resp.headers["location"])
        assert "Your session has expired" in resp.text

    # Expired sessions nobody comes back with are deleted by the retention purge.
    async with signed_in(sqlite_api, sqlite_api.acme):
        await expire_sessions(sqlite_api)
        purged = admin(sqlite_api.database_url, "purge")
        assert isinstance(purged, dict) and purged["console_sessions"] >= 1


async def test_an_invalid_field_is_marked_and_nothing_typed_is_lost(sqlite_api: ApiServer) -> None:
    async with signed_in(sqlite_api, sqlite_api.globex) as client:
        page = await client.get("/console/agents/new")
        token = csrf_of(page.text)
        form = {
            "csrf_token": token,
            "name": "Front desk",
            "first_message": "Welcome to the front desk.",
            "system_prompt": "You answer questions about opening hours.",
            "temperature": "warm",
            "language": "English!",
            "turn_detection.min_silence_duration": "0.8",
            "tools": "[{not json",
            "active": "on",
        }
        resp = await client.post("/console/agents/new", data=form)
        assert resp.status_code == 400
        html = resp.text
        assert 'id="f-temperature"' in html and "is not a number" in html
        assert "a language code" in html and "not valid JSON" in html
        assert re.search(r'id="f-temperature"[^>]*aria-invalid="true"', html)
        assert field_value(html, "temperature") == "warm"
        assert field_value(html, "language") == "English!"
        assert field_value(html, "turn_detection.min_silence_duration") == "0.8"
        assert "You answer questions about opening hours." in html
        assert "[{not json" in unescape(html)
        assert re.search(r'id="f-active"[^>]*checked', html)

        form |= {"temperature": "0.4", "language": "en-GB", "tools": "[]"}
        resp = await client.post("/console/agents/new", data=form)
        assert resp.status_code == 303, resp.text
        agent_id = resp.headers["location"].split("/")[-1].split("?")[0]
        async with sqlite_api.client(sqlite_api.globex) as api:
            agent = (await api.get(f"/voice-agents/{agent_id}")).json()
        assert agent["temperature"] == 0.4 and agent["language"] == "en-GB"
        assert agent["turn_detection"]["min_silence_duration"] == 0.8
        assert agent["active"] is True and agent["first_message"] == form["first_message"]

        # Editing keeps what was not touched, and saves what was.
        page = await client.get(f"/console/agents/{agent_id}")
        assert field_value(page.text, "turn_detection.min_silence_duration") == "0.8"
        edited = {k: v for k, v in form.items() if k != "active"} | {"name": "Reception"}
        resp = await client.post(f"/console/agents/{agent_id}", data=edited)
        assert resp.status_code == 303
        async with sqlite_api.client(sqlite_api.globex) as api:
            agent = (await api.get(f"/voice-agents/{agent_id}")).json()
        assert agent["name"] == "Reception" and agent["active"] is False
        assert agent["turn_detection"]["min_silence_duration"] == 0.8

    # Another company's user sees none of it.
    async with signed_in(sqlite_api, sqlite_api.acme) as other:
        assert "Reception" not in (await other.get("/console/agents")).text
        assert (await other.get(f"/console/agents/{agent_id}")).status_code == 404
        page = await other.get("/console/agents/new")
        resp = await other.post(
            f"/console/agents/{agent_id}", data={**edited, "csrf_token": csrf_of(page.text)}
        )
        assert resp.status_code == 404

    # A viewer reads the form but cannot save it.
    async with signed_in(sqlite_api, sqlite_api.globex, role="viewer") as viewer:
        page = await viewer.get(f"/console/agents/{agent_id}")
        assert page.status_code == 200 and ">Save</button>" not in page.text
        resp = await viewer.post(
            f"/console/agents/{agent_id}", data={**edited, "csrf_token": csrf_of(page.text)}
        )
        assert resp.status_code == 403


async def test_the_text_chat_tab_answers_on_the_chat_api(sqlite_api: ApiServer) -> None:
    async with sqlite_api.client(sqlite_api.acme) as api:
        agent = await chat_agent(api)
    async with signed_in(sqlite_api, sqlite_api.acme) as client:
        page = await client.get(f"/console/agents/{agent['id']}/talk")
        assert page.status_code == 200 and 'id="panel-chat"' in page.text
        token = csrf_of(page.text)
        url = f"/console/agents/{agent['id']}/chat"
        first = await client.post(url, data={"csrf_token": token, "message": "Hello there"})
        assert first.status_code == 200, first.text
        assert first.json()["response"] == "You said: Hello there. Here is my answer."
        session_id = first.json()["session_id"]
        second = await client.post(
            url, data={"csrf_token": token, "message": "Again", "session_id": session_id}
        )
        assert second.json()["session_id"] == session_id
        assert (await client.post(url, data={"message": "No token"})).status_code == 403
        empty = await client.post(url, data={"csrf_token": token, "message": ""})
        assert empty.status_code == 400 and "message" in empty.json()["detail"]
        # The chat is a conversation of the company, on its page.
        listed = await client.get("/console/conversations")
        assert first.json()["conversation_id"] in listed.text

    # Its analysis, asked for through the API, is on its page once done (the fake model's
    # answer is no JSON: the sentiment is there, and the note says why the rest is not).
    conversation_id = first.json()["conversation_id"]
    async with sqlite_api.client(sqlite_api.acme) as api:
        assert (await api.post(f"/conversations/{conversation_id}/analysis")).status_code == 202

        async def analysed() -> bool:
            got = await api.get(f"/conversations/{conversation_id}/analysis")
            return got.json()["status"] == "completed"

        await poll_until(analysed, 60, "the chat's analysis")
    async with signed_in(sqlite_api, sqlite_api.acme) as client:
        shown = unescape((await client.get(f"/console/conversations/{conversation_id}")).text)
        assert 'id="conversation-analysis"' in shown
        assert "completed" in shown and "was not usable" in shown


async def test_settings_keys_provider_keys_and_webhooks(sqlite_api: ApiServer) -> None:
    async with signed_in(sqlite_api, sqlite_api.globex) as client:
        page = await client.get("/console/settings")
        assert page.status_code == 200
        token = csrf_of(page.text)
        # A read-only key, shown once, that reads and may not write; then revoked.
        resp = await client.post(
            "/console/keys",
            data={"csrf_token": token, "name": "dashboard", "permissions": "read", "days": "30"},
        )
        assert resp.status_code == 201
        key = re.search(r'id="shown-once">([^<]+)<', resp.text).group(1)  # type: ignore[union-attr]
        async with sqlite_api.client(headers={"x-api-key": key}) as api:
            assert (await api.get("/voice-agents")).status_code == 200
            assert (await api.post("/voice-agents", json={"name": "x"})).status_code == 403
            verified = (await api.get("/v1/api/verify")).json()["data"]
        assert verified["permissions"] == ["read"] and verified["expires_at"]
        resp = await client.post(
            "/console/keys", data={"csrf_token": token, "name": "none", "days": "30"}
        )
        assert resp.status_code == 400 and "at least one permission" in resp.text
        resp = await client.post(
            f"/console/keys/{verified['key_id']}/revoke", data={"csrf_token": token}
        )
        assert resp.status_code == 303
        async with sqlite_api.client(headers={"x-api-key": key}) as api:
            assert (await api.get("/voice-agents")).status_code == 401
        # Another company's key cannot be revoked from here.
        resp = await client.post(
            f"/console/keys/{sqlite_api.acme.key_id}/revoke", data={"csrf_token": token}
        )
        assert resp.status_code == 404

        # A provider key: checked with the provider, then shown masked.
        resp = await client.post(
            "/console/integrations/elevenlabs",
            data={"csrf_token": token, "api_key": "sk_wrong_key_999"},
        )
        assert resp.status_code == 400 and 'role="alert"' in resp.text
        resp = await client.post(
            "/console/integrations/elevenlabs",
            data={"csrf_token": token, "api_key": ELEVENLABS_KEY},
        )
        assert resp.status_code == 303
        page = await client.get("/console/settings")
        assert f"***{ELEVENLABS_KEY[-4:]}" in page.text and ELEVENLABS_KEY not in page.text

        # A webhook: its secret shown once, then listed; bad ones refused saying why.
        hook = {"csrf_token": token, "url": "http://127.0.0.1:9/hook", "events": "agent.created"}
        resp = await client.post("/console/webhooks", data=hook)
        assert resp.status_code == 201 and 'id="shown-once"' in resp.text
        assert "No deliveries yet" in (await client.get("/console/settings")).text
        resp = await client.post("/console/webhooks", data={**hook, "url": "ftp://example.com/x"})
        assert resp.status_code == 400 and "url" in resp.text
        resp = await client.post(
            "/console/webhooks", data={"csrf_token": token, "url": "https://example.com/hook"}
        )
        assert resp.status_code == 400 and "events" in resp.text

    # Members and viewers do not manage keys or webhooks.
    async with signed_in(sqlite_api, sqlite_api.globex, role="member") as member:
        assert (await member.get("/console/settings")).status_code == 403
        assert ">Settings</a>" not in (await member.get("/console/agents")).text
