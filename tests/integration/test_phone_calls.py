"""Phone calls end to end: a fake Twilio (its REST API, signed webhooks and status callbacks,
and a phone that speaks and listens over the media stream at real-time pace) against the
control plane, the phone gateway, a real livekit-server and the worker.

The agent answers with the fake OpenAI model ("You said: <what it heard>. Here is my
answer."), so a reply heard on the phone shows what the agent's Whisper understood of 8 kHz
mu-law speech; its voice and its ears are the local engines.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import numpy as np
import pytest

from fake_providers.openai import FakeOpenAI
from fake_providers.twilio import FakeTwilio, speech
from fake_providers.twilio.signature import compute_signature
from shared.audio import resample
from simulator.caller import CallScript, Interjection, Utterance
from simulator.caller.phone import phone_call
from simulator.speech import render_speech
from simulator.stack import Stack, gateway_process
from simulator.transcribe import HeardTranscriber
from tests.conftest import OPENAI_KEY, TEST_AGENT_NAME
from tests.helpers import Receiver, poll_until, words
from tests.integration.conftest import LOG_DIR, Tenant, admin, stack_control_plane

pytestmark = pytest.mark.integration

PHONE_API_PORT = 8394
GATEWAY_PORT = 8395
TWILIO_PORT = 9493
ACCOUNT = "AC" + "a1" * 16
TOKEN = "twilio-auth-token-0123456789"  # noqa: S105 - the fake's test account
NUMBER = "+15550001111"
CALLER = "+15559998888"
GREETING = "Thank you for calling the bakery."
QUESTION = "What time does the bakery open tomorrow?"


@pytest.fixture(scope="module")
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(accounts={ACCOUNT: TOKEN}, port=TWILIO_PORT) as fake:
        yield fake


@pytest.fixture(scope="module")
def phone_api(stack: Stack, store_url: str, provider_env: dict[str, str]) -> Iterator[str]:
    """The phone gateway and a control plane that hands calls to it."""
    gateway = gateway_process(
        GATEWAY_PORT, livekit_url=stack.config.livekit_url, log_path=LOG_DIR / "phone-gateway.log"
    )
    api = stack_control_plane(
        stack,
        store_url,
        PHONE_API_PORT,
        TEST_AGENT_NAME,
        "control-plane-phone.log",
        {
            **provider_env,
            "PUBLIC_URL": f"http://127.0.0.1:{PHONE_API_PORT}",
            "TELEPHONY_GATEWAY_URL": f"ws://127.0.0.1:{GATEWAY_PORT}/twilio/media",
            "TWILIO_BASE_URL": f"http://127.0.0.1:{TWILIO_PORT}",
            "PHONE_RING_SECONDS": "5",
        },
    )
    try:
        yield f"http://127.0.0.1:{PHONE_API_PORT}"
    finally:
        api.stop()
        gateway.stop()


@pytest.fixture(scope="module")
async def line(phone_api: str, store_url: str, twilio: FakeTwilio) -> AsyncIterator[dict]:
    """A company with its Twilio account, an agent, and a number the agent answers."""
    created = admin(store_url, "create-company", f"Phone Co {uuid.uuid4().hex[:4]}")
    tenant = Tenant(created["company_id"], created["key_id"], created["api_key"])
    async with httpx.AsyncClient(base_url=phone_api, headers=tenant.headers, timeout=30) as client:
        resp = await client.post(
            "/integrations/twilio", json={"account_sid": ACCOUNT, "auth_token": TOKEN}
        )
        assert resp.status_code == 200, resp.text
        resp = await client.post("/integrations/openai", json={"api_key": OPENAI_KEY})
        assert resp.status_code == 200, resp.text
        resp = await client.post(
            "/voice-agents",
            json={
                "name": "Bakery line",
                "llm_model": "gpt-4o-mini",
                "active": True,
                "first_message": GREETING,
                "tools": [{"type": "transfer_call", "transfer_to": "+15550003333"}],
            },
        )
        assert resp.status_code == 201, resp.text
        agent_id = resp.json()["id"]
        resp = await client.post("/phone-numbers", json={"number": NUMBER, "agent_id": agent_id})
        assert resp.status_code == 201, resp.text
        yield {"tenant": tenant, "agent_id": agent_id, "api": phone_api}


def client_of(line: dict) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=line["api"], headers=line["tenant"].headers, timeout=30)


_transcriber: HeardTranscriber | None = None


async def heard_text(pcm8k: np.ndarray) -> str:
    """What the phone heard, in words (the listener's Whisper, as in the other call tests)."""
    global _transcriber
    _transcriber = _transcriber or HeardTranscriber()
    from simulator.audio import CALLER_RATE

    audio = resample(pcm8k, 8000, CALLER_RATE)
    return await asyncio.get_running_loop().run_in_executor(None, _transcriber.transcribe, audio)


async def conversation(line: dict, conversation_id: str) -> dict:
    async with client_of(line) as client:
        resp = await client.get(f"/conversations/{conversation_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def closed(line: dict, conversation_id: str, within: float = 60) -> dict:
    async def done() -> bool:
        return (await conversation(line, conversation_id))["status"] != "ongoing"

    await poll_until(done, within, "the phone call's record closed")
    return await conversation(line, conversation_id)


async def call_in(twilio: FakeTwilio, phone_api: str):  # type: ignore[no-untyped-def]
    return await twilio.place_inbound_call(
        voice_url=f"{phone_api}/telephony/twilio/voice",
        to=NUMBER,
        from_=CALLER,
        account_sid=ACCOUNT,
    )


# --- inbound --------------------------------------------------------------------------------


async def test_an_inbound_call_is_answered_and_recorded_with_the_number(
    idle_stack: Stack, line: dict, twilio: FakeTwilio
) -> None:
    call = await call_in(twilio, line["api"])
    phone = await call.connected(timeout=30)
    greeting = await phone.wait_for_speech(timeout=60)
    assert {"thank", "calling", "bakery"} & words(await heard_text(greeting.pcm))

    pcm, rate = speech(QUESTION)
    said = await phone.say(pcm, rate)
    reply = await phone.wait_for_speech(timeout=60, after=said.ended_at)
    heard = await heard_text(reply.pcm)
    # The fake model repeats what the agent's Whisper understood of the 8 kHz question.
    assert {"said", "answer"} & words(heard), heard
    assert {"bakery", "open", "tomorrow", "time"} & words(heard), heard
    await phone.hang_up()

    conversation_id = phone.start_parameters["conversation_id"]
    record = await closed(line, conversation_id)
    assert (record["status"], record["end_reason"]) == ("success", "caller_hung_up")
    assert record["phone_number"] == CALLER and record["direction"] == "inbound"
    said_by_caller = " ".join(m["text"] for m in record["transcript"] if m["speaker"] == "user")
    assert {"bakery", "open", "tomorrow"} & words(said_by_caller), record["transcript"]
    assert record["transcript"][0]["speaker"] == "agent"
    await call.ended(timeout=30)
    assert call.status == "completed"


async def test_a_request_with_a_bad_signature_is_refused(line: dict) -> None:
    url = f"{line['api']}/telephony/twilio/voice"
    form = {"CallSid": "CA" + "0" * 32, "AccountSid": ACCOUNT, "From": CALLER, "To": NUMBER}
    async with httpx.AsyncClient(timeout=30) as client:
        forged = compute_signature("not-the-token", url, list(form.items()))
        resp = await client.post(url, data=form, headers={"X-Twilio-Signature": forged})
        assert resp.status_code == 403, resp.text
        assert "signature" in resp.json()["detail"].lower()
        resp = await client.post(url, data=form)
        assert resp.status_code == 403
        genuine = compute_signature(TOKEN, url, list(form.items()))
        resp = await client.post(
            url, data={**form, "To": "+15550000000"}, headers={"X-Twilio-Signature": genuine}
        )
        assert resp.status_code == 404  # not a number of this service
    async with client_of(line) as api:
        listed = (await api.get("/conversations")).json()["conversations"]
    assert not [c for c in listed if c.get("phone_number") == CALLER and c["status"] == "ongoing"]


async def test_keypad_digits_reach_the_agent(
    idle_stack: Stack, line: dict, twilio: FakeTwilio
) -> None:
    call = await call_in(twilio, line["api"])
    phone = await call.connected(timeout=30)
    await phone.wait_for_speech(timeout=60)
    await phone.press("42#")
    reply = await phone.wait_for_speech(timeout=60)
    assert "42" in (await heard_text(reply.pcm)).replace(" ", "").replace(",", "")
    await phone.hang_up()
    record = await closed(line, phone.start_parameters["conversation_id"])
    assert any(
        m["speaker"] == "user" and m["text"] == "Keypad: 42" for m in record["transcript"]
    ), record["transcript"]


async def test_barge_in_over_the_phone_clears_the_queued_reply(
    idle_stack: Stack, line: dict, twilio: FakeTwilio, fake_openai: FakeOpenAI
) -> None:
    long_reply = " ".join(
        f"Item {n}: our bakery sells fresh bread, croissants and cakes every day." for n in range(8)
    )
    fake_openai.reply_fn = lambda messages: long_reply
    try:
        call = await call_in(twilio, line["api"])
        phone = await call.connected(timeout=30)
        await phone.wait_for_speech(timeout=60)
        pcm, rate = speech("Tell me everything you sell.")
        said = await phone.say(pcm, rate)
        started = await phone.wait_for_sound(after=said.ended_at, timeout=60)
        await asyncio.sleep(1.5)  # the reply has been playing for a while: the caller cuts in
        clears_before = len(phone.clears)
        cut_in = await phone.say(*speech("Stop, please stop."))
        await poll_until(lambda: len(phone.clears) > clears_before, 10, "a clear on the line")
        quiet = await phone.wait_for_silence(after=cut_in.started_at, timeout=10)
        # The reply would have lasted ~30 s; it stops within a second of the barge-in.
        assert quiet - cut_in.started_at < 1.5, (started, quiet, cut_in.started_at)
        await phone.hang_up()
        record = await closed(line, phone.start_parameters["conversation_id"])
        replies = [m for m in record["transcript"] if m["speaker"] == "agent"]
        assert any(m["interrupted"] for m in replies), replies
    finally:
        fake_openai.reply_fn = None


async def test_the_simulator_measures_a_scripted_call_over_the_phone(
    idle_stack: Stack, line: dict, twilio: FakeTwilio, fake_openai: FakeOpenAI
) -> None:
    """The simulator's caller script (turns, a barge-in) on the phone path: voice-to-voice and
    the barge-in stop are measured at the phone's earpiece, as on a WebRTC call."""
    fake_openai.reply_fn = lambda messages: " ".join(
        f"Part {n}: we bake bread, rolls and cakes every morning." for n in range(6)
    )
    question = "What do you bake on weekdays?"
    script = CallScript(
        turns=[
            Utterance(
                render_speech(question),
                question,
                interjection=Interjection(render_speech("Wait, stop please."), after=1.5),
            )
        ],
        greeting_timeout=60,
        reply_timeout=60,
    )
    try:
        report = await phone_call(
            twilio,
            script,
            voice_url=f"{line['api']}/telephony/twilio/voice",
            to=NUMBER,
            from_=CALLER,
            account_sid=ACCOUNT,
        )
    finally:
        fake_openai.reply_fn = None
    assert report.greeting is not None
    assert {"thank", "calling", "bakery"} & words(await heard_text_48k(report.greeting.audio))
    turn = report.turns[0]
    assert turn.reply is not None and turn.voice_to_voice is not None
    assert 0.2 < turn.voice_to_voice < 10, turn.voice_to_voice
    # The agent was cut off: its audio stopped at the earpiece after the caller spoke over it.
    assert turn.interjected_at is not None and turn.agent_stopped_at is not None
    assert 0 < turn.agent_stopped_at - turn.interjected_at < 2.0
    record = await closed(line, report.room)
    assert record["phone_number"] == CALLER
    assert any(m["interrupted"] for m in record["transcript"] if m["speaker"] == "agent")


async def heard_text_48k(audio: np.ndarray) -> str:
    from simulator.audio import CALLER_RATE

    return await heard_text(resample(audio, CALLER_RATE, 8000))


async def test_a_transfer_dials_the_person_and_fires_the_handoff(
    idle_stack: Stack, line: dict, twilio: FakeTwilio
) -> None:
    receiver = Receiver()
    hook_url = await receiver.start()
    try:
        async with client_of(line) as api:
            resp = await api.post(
                "/webhooks",
                json={"url": hook_url, "events": ["agent.handoff"], "secret": receiver.secret},
            )
            assert resp.status_code == 201, resp.text
            call = await call_in(twilio, line["api"])
            phone = await call.connected(timeout=30)
            await phone.wait_for_speech(timeout=60)
            conversation_id = phone.start_parameters["conversation_id"]
            resp = await api.post(
                f"/conversations/{conversation_id}/transfer",
                json={"to": "+15550004444", "reason": "wants a person"},
            )
            assert resp.status_code == 202, resp.text
            await call.ended(timeout=30)
            assert call.dialed == "+15550004444"
            record = await closed(line, conversation_id)
            assert (record["status"], record["end_reason"]) == ("success", "transferred")
            await poll_until(lambda: receiver.events_of("agent.handoff"), 30, "agent.handoff")
            handoff = receiver.events_of("agent.handoff")[0]["data"]
            assert handoff["conversation_id"] == conversation_id
            assert handoff["to"] == "+15550004444"
            # A call that is over cannot be transferred again.
            resp = await api.post(
                f"/conversations/{conversation_id}/transfer", json={"to": "+15550004444"}
            )
            assert resp.status_code == 409
    finally:
        await receiver.stop()


async def test_the_agents_transfer_tool_hands_the_phone_call_over(
    idle_stack: Stack, line: dict, twilio: FakeTwilio, fake_openai: FakeOpenAI
) -> None:
    fake_openai.tool_triggers["person"] = ("transfer_call", {"reason": "asked for a person"})
    try:
        call = await call_in(twilio, line["api"])
        phone = await call.connected(timeout=30)
        await phone.wait_for_speech(timeout=60)
        await phone.say(*speech("I want to talk to a person please."))
        # The agent says its farewell, leaves, and Twilio dials the agent's transfer number.
        await call.ended(timeout=60)
        assert call.dialed == "+15550003333"
        record = await closed(line, phone.start_parameters["conversation_id"])
        assert (record["status"], record["end_reason"]) == ("success", "transferred")
        assert [t["name"] for t in record["tools"]] == ["transfer_call"]
    finally:
        fake_openai.tool_triggers.pop("person", None)


async def test_a_dropped_line_closes_the_record_with_its_reason(
    idle_stack: Stack, line: dict, twilio: FakeTwilio
) -> None:
    call = await call_in(twilio, line["api"])
    phone = await call.connected(timeout=30)
    await phone.wait_for_speech(timeout=60)
    await phone.drop()
    record = await closed(line, phone.start_parameters["conversation_id"])
    assert (record["status"], record["end_reason"]) == ("failed", "connection_lost")
    assert record["transcript"] and record["transcript"][0]["speaker"] == "agent"


# --- outbound -------------------------------------------------------------------------------


async def test_make_call_reaches_the_number_and_the_agent_speaks_first(
    idle_stack: Stack, line: dict, twilio: FakeTwilio
) -> None:
    async with client_of(line) as api:
        resp = await api.post(
            "/v1/api/make-call", json={"agent_id": line["agent_id"], "phone_number": "+15557770001"}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["success"] and body["data"]["status"] == "initiated"
        conversation_id = body["data"]["call_id"]
    call = await twilio.wait_for_call(to="+15557770001", timeout=10)
    assert call.from_ == NUMBER
    phone = await call.connected(timeout=30)
    greeting = await phone.wait_for_speech(timeout=60)
    assert {"thank", "calling", "bakery"} & words(await heard_text(greeting.pcm))
    await phone.hang_up()
    record = await closed(line, conversation_id)
    assert record["direction"] == "outbound" and record["phone_number"] == "+15557770001"
    assert record["end_reason"] == "caller_hung_up"
    await poll_until(
        lambda: twilio_status(line, conversation_id, "completed"), 30, "completed reported"
    )


async def twilio_status(line: dict, conversation_id: str, status: str) -> bool:
    return (await conversation(line, conversation_id)).get("telephony_status") == status


@pytest.mark.parametrize(("behaviour", "reason"), [("busy", "busy"), ("no-answer", "no_answer")])
async def test_an_unanswered_call_closes_with_the_providers_outcome(
    line: dict, twilio: FakeTwilio, behaviour: str, reason: str
) -> None:
    number = "+1555777" + ("0002" if behaviour == "busy" else "0003")
    twilio.callee_behaviour[number] = behaviour
    async with client_of(line) as api:
        resp = await api.post("/phone-calls", json={"agent_id": line["agent_id"], "to": number})
        assert resp.status_code == 201, resp.text
        conversation_id = resp.json()["conversation_id"]
        assert resp.json()["call_id"].startswith("CA")
    record = await closed(line, conversation_id, within=30)
    assert (record["status"], record["end_reason"]) == ("failed", reason)
    assert record["telephony_status"] == behaviour
    assert record["transcript"] == []


async def test_twilio_unreachable_is_a_502_and_stores_nothing(
    line: dict, twilio: FakeTwilio
) -> None:
    twilio.set_fault("create_call", status=503)
    try:
        async with client_of(line) as api:
            before = (await api.get("/conversations")).json()["total"]
            resp = await api.post(
                "/phone-calls", json={"agent_id": line["agent_id"], "to": "+15557770009"}
            )
            assert resp.status_code == 502, resp.text
            assert "twilio" in resp.json()["detail"].lower()
            resp = await api.post(
                "/v1/api/make-call",
                json={"agent_id": line["agent_id"], "phone_number": "+15557770009"},
            )
            assert resp.status_code == 502 and resp.json()["success"] is False
            assert (await api.get("/conversations")).json()["total"] == before
    finally:
        twilio.state.faults.clear()
