"""An attacker holding a company's API key, against a control plane on SQLite and PostgreSQL.

Replays what an attack on the control plane found: URLs aimed at internal addresses (webhooks,
an agent's `llm_base_url`), the deployment's provider key sent where a tenant chooses, bodies
parsed before the key was checked, a decompression bomb, and the smaller findings. Internal
addresses other than loopback are only ever checked for their refusal at registration:
nothing is sent beyond loopback. The server under test allows exactly one non-public network,
`127.0.0.2/32`, where its test receivers listen; everything else on loopback is refused.
"""

from __future__ import annotations

import asyncio
import io
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import av
import httpx
import numpy as np
import psutil
import pytest
from sqlalchemy import update

from control_plane.agent_loader import load_agent
from control_plane.security import ProviderKeyVault
from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import Conversation, Webhook
from fake_providers.openai import FakeOpenAI
from pipelines.factory import build_llm
from shared.egress import EgressPolicy
from tests.conftest import OPENAI_KEY, PROVIDER_KEYS_SECRET
from tests.helpers import Receiver, answer, llm_engines, poll_until, primary_llm
from tests.integration.conftest import (
    FAST_WEBHOOKS,
    ApiServer,
    database_url_for,
    running_api_server,
)

pytestmark = pytest.mark.integration

PORTS = {"sqlite": 8394, "postgresql": 8395}
RECEIVERS = "127.0.0.2"
"""The one non-public address the server may reach (`EGRESS_ALLOWED_NETWORKS`)."""
DEPLOYMENT_OPENAI_KEY = "sk-deployment-owned-0009"
LIMITS = {
    "MAX_WEBHOOKS_PER_COMPANY": "3",
    "MAX_AGENTS_PER_COMPANY": "4",
    "AUTH_FAILURE_LIMIT": "5/minute",
    "RATE_LIMIT": "100000/minute",
}

INTERNAL_URLS = {
    "http://127.0.0.1:8390/hook": "loopback",
    "http://localhost:8390/hook": "loopback",
    "http://[::1]:8390/hook": "loopback",
    "http://2130706433:8390/hook": "loopback",
    "http://127.1:8390/hook": "loopback",
    "http://0x7f.0.0.1/hook": "loopback",
    "http://[::ffff:127.0.0.1]/hook": "loopback",
    "http://0.0.0.0:8390/hook": "unspecified",
    "http://169.254.169.254/latest/meta-data/": "link-local",
    "http://[fe80::1]/hook": "link-local",
    "http://10.0.0.1/hook": "private",
    "http://192.168.1.10/hook": "private",
    "http://172.16.0.1/hook": "private",
    "http://[fd00::1]/hook": "private",
    "http://100.64.0.1/hook": "shared",
    "http://224.0.0.1/hook": "multicast",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory, provider_env) -> Iterator[ApiServer]:
    """A control plane with the default egress policy (plus the receivers' address), small
    per-company limits, and a LiveKit that cannot be reached."""
    backend = request.param
    database_url = database_url_for(backend, tmp_path_factory.mktemp(f"security-{backend}"))
    env = {
        **provider_env,
        **FAST_WEBHOOKS,
        **LIMITS,
        "EGRESS_ALLOWED_NETWORKS": f"{RECEIVERS}/32",
        "OPENAI_API_KEY": DEPLOYMENT_OPENAI_KEY,
        "LIVEKIT_URL": "ws://127.0.0.1:9",  # nothing listens on the discard port
    }
    with running_api_server(
        backend, database_url, PORTS[backend], f"control-plane-security-{backend}.log", env
    ) as server:
        yield server


def from_address(server: ApiServer, address: str, **kwargs) -> httpx.AsyncClient:
    """A client whose requests come from `address` (any 127.x address is this machine), so a
    test's failed authentications count against an address of its own."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=60, **kwargs)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(host=RECEIVERS)
    await r.start()
    yield r
    await r.stop()


async def test_webhooks_to_internal_addresses_are_refused_at_registration(server: ApiServer):
    tenant = server.new_tenant("Scanner Ltd")
    async with server.client(tenant) as client:
        for url, rule in INTERNAL_URLS.items():
            resp = await client.post("/webhooks", json={"url": url, "events": ["*"]})
            assert resp.status_code == 400, (url, resp.text)
            detail = resp.json()["detail"]
            assert detail.startswith("url: ") and rule in detail, (url, detail)
            assert "EGRESS_ALLOWED_NETWORKS" in detail
        resp = await client.post(
            "/webhooks", json={"url": "https://user:pw@hooks.example.com/x", "events": ["*"]}
        )
        assert resp.status_code == 400 and "credentials" in resp.json()["detail"]
        assert (await client.get("/webhooks")).json() == []


async def test_an_agents_llm_base_url_to_internal_addresses_is_refused(server: ApiServer):
    tenant = server.new_tenant("Model Thieves")
    async with server.client(tenant) as client:
        for url, rule in INTERNAL_URLS.items():
            base = url.replace("/hook", "/v1")
            resp = await client.post(
                "/voice-agents",
                json={
                    "name": "x",
                    "voice_id": "v",
                    "llm_model": "gpt-4o-mini",
                    "llm_base_url": base,
                },
            )
            assert resp.status_code == 400, (base, resp.text)
            assert resp.json()["detail"].startswith("llm_base_url: ") and rule in resp.text
        agent = (await client.post("/voice-agents", json={"name": "x", "voice_id": "v"})).json()
        resp = await client.put(
            f"/voice-agents/{agent['id']}",
            json={"llm_base_url": "http://169.254.169.254/v1"},
        )
        assert resp.status_code == 400 and "link-local" in resp.text
        assert (await client.get(f"/voice-agents/{agent['id']}")).json()["llm_base_url"] is None
        assert len((await client.get("/voice-agents")).json()) == 1


async def test_deliveries_are_checked_again_when_connecting_and_follow_no_redirect(
    server: ApiServer, receiver: Receiver
):
    """A webhook stored before the policy (or a name that now resolves elsewhere) is refused
    when connecting; an allowed receiver that redirects to an internal address is not
    followed. The loopback targets behind both receive nothing."""
    target = Receiver()  # 127.0.0.1: refused by the policy
    await target.start()
    redirector = Receiver(host=RECEIVERS, redirect_to=target.url)
    await redirector.start()
    tenant = server.new_tenant("Rebinders")
    try:
        async with server.client(tenant) as client:
            ok = await client.post(
                "/webhooks",
                json={"url": receiver.url, "events": ["agent.created"], "secret": receiver.secret},
            )
            assert ok.status_code == 201, ok.text
            redirecting = await client.post(
                "/webhooks", json={"url": redirector.url, "events": ["agent.created"]}
            )
            assert redirecting.status_code == 201, redirecting.text
            stored = await store_webhook(
                server, tenant.company_id, target.url.replace("://", "://admin:hunter2@")
            )
            listed = {h["id"]: h["url"] for h in (await client.get("/webhooks")).json()}
            assert "hunter2" not in listed[stored] and listed[stored].startswith("http://***@")

            await client.post("/voice-agents", json={"name": "Hooked", "voice_id": "v"})
            await poll_until(
                lambda: receiver.events_of("agent.created"), 30, "the allowed receiver's delivery"
            )

            async def attempt(hook_id: str) -> dict | None:
                deliveries = (await client.get(f"/webhooks/{hook_id}/deliveries")).json()
                return deliveries[0]["attempts"][0] if deliveries[0]["attempts"] else None

            refused = await poll_until(lambda: attempt(stored), 30, "the stored hook's attempt")
            assert refused["status_code"] is None
            assert "refused by the egress policy" in refused["error"], refused
            assert "loopback" in refused["error"]
            redirected = await poll_until(
                lambda: attempt(redirecting.json()["id"]), 30, "the redirecting hook's attempt"
            )
            assert redirected["status_code"] == 307 and redirected["error"] == "HTTP 307"
            assert redirector.seen and set(redirector.seen) == {307}
        assert target.seen == [], "an internal address received a delivery"
    finally:
        await target.stop()
        await redirector.stop()


async def store_webhook(server: ApiServer, company_id: str, url: str) -> str:
    """A webhook row as one stored before URLs were checked."""
    vault = ProviderKeyVault([PROVIDER_KEYS_SECRET])
    engine = create_engine(server.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            hook = Webhook(
                company_id=uuid.UUID(company_id),
                url=url,
                events=["*"],
                secret_ciphertext=vault.encrypt("whsec_stored_before_0001"),
            )
            session.add(hook)
        return str(hook.id)
    finally:
        await engine.dispose()


async def test_the_deployment_key_never_goes_to_a_url_the_tenant_chose(server: ApiServer):
    """The agent's own endpoint gets the company's key or none; the deployment's key stays
    with the deployment's OpenAI URL. Read through the store as a call reads it."""
    tenant_llm = FakeOpenAI(replies=["From the tenant's server."])
    base_url = await tenant_llm.start(RECEIVERS)
    tenant = server.new_tenant("Key Collectors")
    try:
        async with server.client(tenant) as client:
            agent = (
                await client.post(
                    "/voice-agents",
                    json={
                        "name": "Own model",
                        "voice_id": "v",
                        "active": True,
                        "llm_model": "gpt-4o-mini",
                        "llm_base_url": base_url,
                    },
                )
            ).json()
            assert agent.get("llm_base_url") == base_url, agent
            await ask(server, agent["id"])
            connected = await client.post("/integrations/openai", json={"api_key": OPENAI_KEY})
            assert connected.status_code in (200, 201), connected.text
            await ask(server, agent["id"])
        keys = [r.api_key for r in tenant_llm.state.requests if r.route == "chat"]
        assert len(keys) == 2 and DEPLOYMENT_OPENAI_KEY not in keys, keys
        assert keys[1] == OPENAI_KEY
    finally:
        await tenant_llm.stop()


async def ask(server: ApiServer, agent_id: str) -> None:
    """One LLM request of a call to the stored agent, with the deployment's key configured."""
    vault = ProviderKeyVault([PROVIDER_KEYS_SECRET])
    call = await load_agent(server.database_url, agent_id, lambda: vault)
    engines = llm_engines(
        deployment_openai_key=DEPLOYMENT_OPENAI_KEY,
        egress=EgressPolicy.from_setting(f"{RECEIVERS}/32"),
    )
    await answer(primary_llm(build_llm(call.config, engines.settings, call.credentials)))


async def raw_request(port: int, head: str, body: bytes = b"", within: float = 10) -> str:
    """Send `head` (and `body`) and return the status line, without closing the request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, family=socket.AF_INET)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), within)
        return status.decode().strip()
    finally:
        writer.close()


async def test_a_key_is_checked_and_a_size_refused_before_the_body_is_read(server: ApiServer):
    port = PORTS[server.backend]
    # 900 KB declared and never sent: answered at once, so the body was not waited for.
    head = (
        "POST /voice-agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 900000\r\n{auth}\r\n"
    )
    assert (await raw_request(port, head.format(auth=""))).endswith("401 Unauthorized")
    invalid = head.format(auth="x-api-key: not-a-key\r\n")
    assert (await raw_request(port, invalid)).endswith("401 Unauthorized")
    # 29 MB declared: refused from its length, whoever sends it.
    huge = head.replace("900000", str(29 * 1024 * 1024))
    assert (await raw_request(port, huge.format(auth=""))).endswith("413 Request Entity Too Large")
    valid = f"x-api-key: {server.acme.api_key}\r\n"
    assert (await raw_request(port, huge.format(auth=valid))).endswith(
        "413 Request Entity Too Large"
    )

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):  # 2.5 MB without a declared length
            yield b" " * 65536

    async with server.client(server.acme) as client:
        resp = await client.post(
            "/voice-agents", content=chunks(), headers={"content-type": "application/json"}
        )
        assert resp.status_code == 413, resp.text
        assert "larger than" in resp.json()["detail"]
        # An upload route allows a file up to its own limit, not more.
        upload = head.replace("/voice-agents", "/voice-agents/stt").replace(
            "900000", str(27 * 1024 * 1024)
        )
        assert (await raw_request(port, upload.format(auth=valid))).endswith(
            "413 Request Entity Too Large"
        )
        assert (await client.get("/voice-agents")).status_code == 200


@pytest.fixture(scope="module")
def hour_of_silence() -> bytes:
    """A FLAC of one hour of silence: well under a megabyte, ~230 MB once decoded."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=8000, layout="mono")
        block = np.zeros((1, 8000 * 60), dtype=np.int16)
        for minute in range(60):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = 8000
            frame.pts = minute * 8000 * 60
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


async def test_a_decompression_bomb_stops_at_the_duration_limit(
    server: ApiServer, hour_of_silence: bytes
):
    assert len(hour_of_silence) < 2 * 1024 * 1024
    process = psutil.Process(server.process.proc.pid)
    before = process.memory_info().rss
    async with server.client(server.acme) as client:
        resp = await client.post(
            "/voice-agents/stt",
            files={"file": ("silence.flac", hour_of_silence, "audio/flac")},
        )
        assert resp.status_code == 413, resp.text
        assert "longer than 600 s" in resp.json()["detail"]
        assert (await client.get("/voice-agents")).status_code == 200
    # Decoding stopped at 600 s (~40 MB of samples); an hour would be ~230 MB, twice over.
    grown = (process.memory_info().rss - before) / 2**20
    assert grown < 150, f"the server grew by {grown:.0f} MB"


async def test_smaller_findings(server: ApiServer, fake_elevenlabs):
    tenant = server.new_tenant("Pokers")
    async with server.client(tenant) as client:
        # A NUL in the text of a local voice is a 400 naming the field, not a 500.
        resp = await client.post(
            "/voice-agents/elevenlabs/voices/local:en_US-joe-medium/tts", json={"text": "a\x00b"}
        )
        assert resp.status_code == 400 and resp.json()["detail"].startswith("text: ")
        # 405 names the methods the path serves.
        agent = (await client.post("/voice-agents", json={"name": "x", "voice_id": "v"})).json()
        resp = await client.patch(f"/voice-agents/{agent['id']}", json={})
        assert resp.status_code == 405 and resp.headers["allow"] == "GET, PUT, DELETE"
        resp = await client.delete("/webhooks")
        assert resp.status_code == 405 and resp.headers["allow"] == "GET, POST"
        # A voice id cannot reshape the provider's URL.
        before = len(fake_elevenlabs.state.requests)
        for voice in ("abc%3Fx=1", "abc%23frag", "a.b"):
            resp = await client.post(
                f"/voice-agents/elevenlabs/voices/{voice}/tts", json={"text": "hi"}
            )
            assert resp.status_code == 400 and "voiceId" in resp.text, (voice, resp.text)
        for voice in ("abc?x=1", "../user", "a/b", "x:y"):
            resp = await client.post("/voice-agents", json={"name": "x", "voice_id": voice})
            assert resp.status_code == 400 and "voice_id" in resp.text, (voice, resp.text)
        assert len(fake_elevenlabs.state.requests) == before


async def test_ending_a_call_while_livekit_is_unreachable_can_be_retried(server: ApiServer):
    tenant = server.new_tenant("Enders")
    async with server.client(tenant) as client:
        agent = (
            await client.post("/voice-agents", json={"name": "x", "voice_id": "v", "active": True})
        ).json()
        started = (
            await client.post("/conversations", json={"agent_id": agent["id"], "user_id": "u1"})
        ).json()
        conversation_id = started["conversation_id"]
        await mark_joined(server, conversation_id)
        for _ in range(2):  # the retry meets the same outage, not a 409
            resp = await client.post(f"/conversations/{conversation_id}/end")
            assert resp.status_code == 502, resp.text
            assert "LiveKit" in resp.json()["detail"]
            record = (await client.get(f"/conversations/{conversation_id}")).json()
            assert record["status"] == "ongoing" and record["end_reason"] is None
        # A call nobody joined closes without LiveKit: there is nobody to disconnect.
        unjoined = (
            await client.post("/conversations", json={"agent_id": agent["id"], "user_id": "u2"})
        ).json()
        resp = await client.post(f"/conversations/{unjoined['conversation_id']}/end")
        assert resp.status_code == 202, resp.text
        assert resp.json()["end_reason"] == "ended_by_api"
        again = await client.post(f"/conversations/{unjoined['conversation_id']}/end")
        assert again.status_code == 409


async def mark_joined(server: ApiServer, conversation_id: str) -> None:
    """What the worker writes when the agent takes the call."""
    from control_plane.store.models import utcnow

    engine = create_engine(server.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(started_at=utcnow())
            )
    finally:
        await engine.dispose()


async def test_per_company_limits(server: ApiServer, receiver: Receiver):
    tenant = server.new_tenant("Hoarders")
    async with server.client(tenant) as client:
        for _ in range(3):
            resp = await client.post("/webhooks", json={"url": receiver.url, "events": ["*"]})
            assert resp.status_code == 201, resp.text
        resp = await client.post("/webhooks", json={"url": receiver.url, "events": ["*"]})
        assert resp.status_code == 409 and "MAX_WEBHOOKS_PER_COMPANY" in resp.text
        for _ in range(4):
            resp = await client.post("/voice-agents", json={"name": "x", "voice_id": "v"})
            assert resp.status_code == 201, resp.text
        resp = await client.post("/voice-agents", json={"name": "x", "voice_id": "v"})
        assert resp.status_code == 409 and "MAX_AGENTS_PER_COMPANY" in resp.text
    # Another company's count is its own.
    async with server.client(server.new_tenant("Fresh")) as client:
        resp = await client.post("/webhooks", json={"url": receiver.url, "events": ["*"]})
        assert resp.status_code == 201, resp.text


async def test_failed_authentications_are_limited_per_address(server: ApiServer):
    async with from_address(server, "127.0.0.9") as attacker:
        for _ in range(5):
            resp = await attacker.get("/voice-agents", headers={"x-api-key": "guess"})
            assert resp.status_code == 401
        resp = await attacker.get("/voice-agents", headers={"x-api-key": "guess"})
        assert resp.status_code == 429 and int(resp.headers["retry-after"]) > 0
        # Even a right guess waits now; the key itself still works from elsewhere.
        resp = await attacker.get("/voice-agents", headers=server.acme.headers)
        assert resp.status_code == 429
    async with server.client(server.acme) as client:
        assert (await client.get("/voice-agents")).status_code == 200


async def test_a_key_in_the_query_string_is_refused_and_not_logged(server: ApiServer):
    secret = server.acme.api_key
    async with from_address(server, "127.0.0.11") as client:
        resp = await client.get("/voice-agents", params={"api_key": secret, "limit": "5"})
        assert resp.status_code == 401
    log = server.process.log_path

    def logged() -> str | None:
        text = log.read_text(errors="replace")
        return text if "api_key=***" in text else None

    text = await poll_until(logged, 10, "the request in the access log")
    assert secret not in text
    assert "limit=5" in text
