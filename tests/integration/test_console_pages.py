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
from tests.integration.conftest import ApiServer, Tenant

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

        # The session's time runs out.
        engine = create_engine(sqlite_api.database_url)
        async with session_factory(engine)() as session:
            past = datetime(2020, 1, 1, tzinfo=UTC)
            await session.execute(update(ConsoleSession).values(expires_at=past))
            await session.commit()
        await engine.dispose()
        resp = await client.get("/console/agents/new")
        assert resp.status_code == 303
        assert resp.headers["location"].endswith("&reason=expired")
        resp = await client.get(resp.headers["location"])
        assert "Your session has expired" in resp.text


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
