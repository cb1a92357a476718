"""Calls whose agents use cloud providers (local fake ElevenLabs and OpenAI servers, reached by
the real plugins), and a call whose providers fail mid-call: the local engines take over and the
caller still hears an answer."""

from __future__ import annotations

import uuid

import httpx
import pytest

from fake_providers.common import Fault, RequestRecord
from fake_providers.elevenlabs import FakeElevenLabs
from fake_providers.openai import FakeOpenAI
from simulator.caller import CallReport
from simulator.stack import Stack
from simulator.transcribe import HeardTranscriber
from tests.conftest import ELEVENLABS_KEY, OPENAI_KEY
from tests.helpers import Receiver, call_once, described, poll_until, words, worker_info
from tests.integration.conftest import Tenant

pytestmark = pytest.mark.integration

VOICE = "EXAVITQu4vr4xnSDxMaL"
QUESTION = "What time does the bakery open tomorrow?"


async def call(client: httpx.AsyncClient, agent_id: str) -> CallReport:
    resp = await client.post("/conversations", json={"agent_id": agent_id, "user_id": "caller-7"})
    assert resp.status_code == 201, resp.text
    report = await call_once(resp.json()["connection_details"], QUESTION)
    return await HeardTranscriber().fill(report)


@pytest.fixture(scope="module")
async def cloud_agent(calls_api: str, calls_tenant: Tenant) -> str:
    """An agent on ElevenLabs voice and STT and an OpenAI model, its company's keys connected."""
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        for provider, key in [("elevenlabs", ELEVENLABS_KEY), ("openai", OPENAI_KEY)]:
            resp = await client.post(f"/integrations/{provider}", json={"api_key": key})
            assert resp.status_code == 200, resp.text
        resp = await client.post(
            "/voice-agents",
            json={
                "name": "Cloud bakery",
                "voice_id": VOICE,
                "stt_provider": "elevenlabs",
                "llm_model": "gpt-4o-mini",
                "active": True,
                "first_message": "Welcome, and thank you for calling.",
            },
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]


def served(fake: FakeElevenLabs | FakeOpenAI, route: str) -> list[RequestRecord]:
    """The fake's requests on `route`, without the post-call analyses' (an earlier call's
    analysis may ask the model while this test's call runs)."""
    return [r for r in fake.state.requests if r.route == route and not is_analysis(r.body)]


async def wait_idle(stack: Stack) -> None:
    port = stack.config.worker_http_port
    await poll_until(lambda: worker_info(port).get("active_jobs", 0) == 0, 60, "an idle worker")


async def test_a_call_on_cloud_providers(
    idle_stack: Stack,
    calls_api: str,
    calls_tenant: Tenant,
    cloud_agent: str,
    fake_elevenlabs: FakeElevenLabs,
    fake_openai: FakeOpenAI,
) -> None:
    fake_elevenlabs.state.requests.clear()
    fake_openai.state.requests.clear()
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        report = await call(client, cloud_agent)

    assert report.greeting is not None, "no greeting heard"
    # espeak-ng's voice (the fake) through tiny Whisper: the plain words come through.
    assert {"welcome", "thank", "calling"} & words(report.greeting.transcript), (
        report.greeting.transcript
    )
    reply = report.turns[0].reply
    assert reply is not None, "no reply heard"
    # The fake model's answer ("You said: <the question>. Here is my answer."), in the fake
    # ElevenLabs voice: the caller's own words come back only in it.
    echoed = {"answer", "said", "time", "open", "tomorrow"}
    assert echoed & words(reply.transcript), described(reply)

    # Each part ran on its cloud provider with the company's key.
    tts = served(fake_elevenlabs, "tts_ws")
    assert tts and all(r.api_key == ELEVENLABS_KEY for r in tts)
    stt = served(fake_elevenlabs, "stt")
    assert stt and all(r.api_key == ELEVENLABS_KEY for r in stt)
    chat = served(fake_openai, "chat")
    assert chat and all(r.api_key == OPENAI_KEY for r in chat)
    # What the cloud STT heard is what the cloud model was asked.
    heard = [r.body["text"].strip() for r in stt if isinstance(r.body, dict) and r.body.get("text")]
    assert heard, "the STT transcribed nothing"
    asked = " ".join(str(r.body) for r in chat)
    assert all(text in asked for text in heard), (heard, asked)


async def test_providers_failing_mid_call_fall_back_to_the_local_engines(
    idle_stack: Stack,
    calls_api: str,
    calls_tenant: Tenant,
    cloud_agent: str,
    fake_elevenlabs: FakeElevenLabs,
    fake_openai: FakeOpenAI,
) -> None:
    await wait_idle(idle_stack)
    fake_elevenlabs.state.requests.clear()
    fake_openai.state.requests.clear()
    log = fake_elevenlabs.state.log

    def fail_once_the_caller_speaks(route, request, api_key, body=None):
        # The greeting went out on the cloud voice; from the caller's first words on, the
        # model answers 500 and the voice's websocket drops before any audio.
        if route == "stt" and "chat" not in fake_openai.state.faults:
            fake_openai.state.faults["chat"] = Fault(status=500)
            fake_elevenlabs.state.faults["tts_ws"] = Fault(drop_after_chunks=0)
        return log(route, request, api_key, body)

    fake_elevenlabs.state.log = fail_once_the_caller_speaks
    worker = idle_stack.processes["worker"]
    receiver = Receiver()
    hook_url = await receiver.start()
    try:
        async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
            hook = {"url": hook_url, "events": ["error.occurred"], "secret": receiver.secret}
            resp = await client.post("/webhooks", json=hook)
            assert resp.status_code == 201, resp.text
            report = await call(client, cloud_agent)
        chat, tts = served(fake_openai, "chat"), served(fake_elevenlabs, "tts_ws")

        def failed_parts() -> set[str]:
            return {e["data"]["component"] for e in receiver.events_of("error.occurred")}

        # The switches reached the company's webhook, naming the failed parts.
        await poll_until(lambda: {"llm", "tts"} <= failed_parts(), 30, "error.occurred events")
    finally:
        await receiver.stop()
        fake_elevenlabs.state.log = log
        fake_openai.state.faults.clear()
        fake_elevenlabs.state.faults.clear()

    assert report.greeting is not None
    assert {"welcome", "thank", "calling"} & words(report.greeting.transcript)
    reply = report.turns[0].reply
    assert reply is not None, "no answer after the providers failed"
    assert reply.duration > 0.5
    assert "answer" not in words(reply.transcript), "the failed model cannot have answered"

    # The cloud providers were tried and failed; the switch was reported.
    assert chat and {r.status for r in chat} == {500}
    assert any(isinstance(r.body, dict) and r.body.get("dropped_after_chunks") == 0 for r in tts)
    assert worker.log_contains("error.occurred")


async def test_an_ended_call_continues_in_text_with_what_was_said(
    idle_stack: Stack,
    calls_api: str,
    calls_tenant: Tenant,
    cloud_agent: str,
    fake_elevenlabs: FakeElevenLabs,
    fake_openai: FakeOpenAI,
) -> None:
    await wait_idle(idle_stack)
    fake_elevenlabs.state.requests.clear()
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        started = await client.post(
            "/conversations", json={"agent_id": cloud_agent, "user_id": "caller-8"}
        )
        assert started.status_code == 201, started.text
        conversation_id = started.json()["conversation_id"]
        report = await call_once(started.json()["connection_details"], QUESTION)
        assert report.turns[0].reply is not None, "no reply heard"
        said = [r.body["text"].strip() for r in served(fake_elevenlabs, "stt") if r.body]
        assert any(said), "the STT transcribed nothing"

        chat = {"x-api-token": calls_tenant.api_key}
        marker = f"text-after-call-{uuid.uuid4().hex[:8]}"
        form = {
            "agent_key": f"agent:{cloud_agent}:web:eu-west-1",
            "conversation_id": conversation_id,
            "query": f"And on Sunday? ({marker})",
        }
        # Once the call has ended (before, the chat API answers 409), a chat continues it.
        record: dict = {}

        async def ended() -> bool:
            nonlocal record
            record = (await client.get(f"/conversations/{conversation_id}")).json()
            return record["status"] != "ongoing"

        await poll_until(ended, 60, "the call to end")
        answered = await client.post("/api/v1/chat/agent/chat", data=form, headers=chat)
        assert answered.status_code == 200, answered.text
        assert answered.json()["conversation_id"] == conversation_id

        # The model read the call's words before the text question, and the record holds both.
        # (The call's analysis, which may run after the question was stored, asks it too.)
        asked = [
            str(r.body["messages"])
            for r in fake_openai.state.requests
            if r.route == "chat" and marker in str(r.body) and not is_analysis(r.body)
        ]
        assert len(asked) == 1
        assert all(text in asked[0] for text in said if text), (said, asked[0])
        after = (await client.get(f"/conversations/{conversation_id}")).json()
        texts = [m["text"] for m in after["transcript"]]
        assert texts[: len(record["transcript"])] == [m["text"] for m in record["transcript"]]
        assert texts[-2] == form["query"] and texts[-1] == answered.json()["agent_response_text"]


def is_analysis(body: object) -> bool:
    """A post-call analysis's request (its prompt starts so); a request refused before its
    body was read (an injected fault) cannot be told, and counts as the call's."""
    if not isinstance(body, dict) or not body.get("messages"):
        return False
    return "You review a finished conversation" in str(body["messages"][-1].get("content"))
