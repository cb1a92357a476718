"""Turn-taking through real rooms, with a simulated caller and short timeouts: a pause inside a
sentence does not end the turn; a caller who speaks over a long reply stops it (and the record
keeps only what was heard); "yeah, okay" over the reply does not; a silent caller is reprompted,
then hears the farewell and the agent hangs up; so does a call that reaches its maximum length.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
import pytest
from livekit import rtc

from fake_providers.openai import FakeOpenAI
from simulator.audio import CALLER_RATE, speech_segments
from simulator.caller import (
    AgentListener,
    CallScript,
    Interjection,
    Microphone,
    Utterance,
    join_conversation,
)
from simulator.speech import render_speech
from simulator.stack import Stack
from tests.conftest import OPENAI_KEY
from tests.helpers import capture_threads, poll_until
from tests.integration.conftest import Tenant

pytestmark = pytest.mark.integration

GREETING = "Hello, this is the bakery."
LONG_REPLY = (
    "We open at seven in the morning from Monday to Friday, and at eight on Saturdays. "
    "On Sundays we open at nine and close early, at two in the afternoon. "
    "Our fresh bread comes out of the oven every morning at half past seven. "
    "We also bake cakes to order, which you can collect from ten o'clock."
)


async def new_agent(client: httpx.AsyncClient, **fields: Any) -> str:
    body = {
        "name": "Turn taker",
        "voice_id": "local:en_US-joe-medium",
        "active": True,
        "first_message": GREETING,
        **fields,
    }
    resp = await client.post("/voice-agents", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def start_call(client: httpx.AsyncClient, agent_id: str) -> tuple[str, dict[str, str]]:
    resp = await client.post("/conversations", json={"agent_id": agent_id, "user_id": "caller"})
    assert resp.status_code == 201, resp.text
    return resp.json()["conversation_id"], resp.json()["connection_details"]


async def closed_record(client: httpx.AsyncClient, conversation_id: str) -> dict:
    async def closed() -> dict | None:
        body = (await client.get(f"/conversations/{conversation_id}")).json()
        return body if body["status"] != "ongoing" else None

    return await poll_until(closed, 60, "the call's record to close")


def with_pause(first: str, second: str, pause: float) -> np.ndarray:
    """Two phrases with exactly `pause` seconds between the end of the first's sound and the
    start of the second's (espeak-ng pads each with silence of its own)."""
    a, b = render_speech(first), render_speech(second)
    end = int(speech_segments(a, CALLER_RATE)[-1].end * CALLER_RATE)
    start = int(speech_segments(b, CALLER_RATE)[0].start * CALLER_RATE)
    return np.concatenate([a[:end], np.zeros(int(pause * CALLER_RATE), np.int16), b[start:]])


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
async def client(calls_api: str, calls_tenant: Tenant) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=calls_api, headers=calls_tenant.headers, timeout=30
    ) as client:
        resp = await client.post("/integrations/openai", json={"api_key": OPENAI_KEY})
        assert resp.status_code == 200, resp.text
        yield client


@pytest.fixture
def long_replies(fake_openai: FakeOpenAI) -> Iterator[None]:
    """The fake model answers every request with `LONG_REPLY` (about 20 s of speech)."""
    saved = fake_openai.replies, fake_openai.reply_fn
    fake_openai.replies, fake_openai.reply_fn = [], lambda _messages: LONG_REPLY
    yield
    fake_openai.replies, fake_openai.reply_fn = saved


@asynccontextmanager
async def silent_caller(details: dict[str, str]) -> AsyncIterator[tuple[AgentListener, Any]]:
    """A caller who joins and says nothing; yields its listener and a future that resolves
    when the caller is disconnected (the agent hung up)."""
    room = rtc.Room()
    listener = AgentListener()
    listener.attach(room)
    hung_up = asyncio.get_running_loop().create_future()
    room.on("disconnected", lambda *_: hung_up.done() or hung_up.set_result(time.monotonic()))
    await room.connect(details["websocket_url"], details["token"])
    mic = Microphone(room)
    await mic.start()
    try:
        yield listener, hung_up
    finally:
        await mic.aclose()
        await listener.aclose()
        await room.disconnect()


async def test_pause_inside_a_sentence_does_not_end_the_turn(
    idle_stack: Stack, client: httpx.AsyncClient
) -> None:
    """A 0.35 s pause with a 0.6 s hold: one turn with all its words, one answer.

    On 2 cores the words after the pause can still be in recognition when the hold ends; the
    turn waits for them (`pipelines.transcript_gate`) instead of answering half a sentence
    and then the rest as a turn of its own."""
    agent = await new_agent(client, turn_detection={"min_silence_duration": 0.6})
    conversation_id, details = await start_call(client, agent)
    audio = with_pause("I would like to order a cake", "for my sister", 0.35)
    script = CallScript(turns=[Utterance(audio, "cake for my sister")], reply_timeout=60)
    report = await join_conversation(
        details["websocket_url"], details["token"], details["room_name"], script
    )
    # The agent waited for the whole sentence: its answer began after the caller's last word.
    turn = report.turns[0]
    assert turn.reply is not None and turn.voice_to_voice is not None
    assert turn.voice_to_voice > 0.3, turn.voice_to_voice
    record = await closed_record(client, conversation_id)
    agents = [m for m in record["transcript"] if m["speaker"] == "agent"]
    assert len(agents) == 2, record["transcript"]  # the greeting and one answer
    users = [m["text"].lower() for m in record["transcript"] if m["speaker"] == "user"]
    assert len(users) == 1, record["transcript"]  # one turn
    words = users[0].replace(",", " ").replace(".", " ").split()
    assert "cake" in words, users
    # the words after the pause are in it ("for my sister"), not a turn of their own
    assert "sister" in words or len(words) >= 9, users


async def test_semantic_turn_detection_answers_a_finished_question(
    idle_stack: Stack, client: httpx.AsyncClient
) -> None:
    """`semantic`: after a 0.3 s pause the end-of-turn model reads the caller's audio; a
    finished question is answered, with its words in one turn."""
    agent = await new_agent(
        client,
        turn_detection={"mode": "semantic", "semantic_silence_duration": 0.3},
    )
    stored = (await client.get(f"/voice-agents/{agent}")).json()
    assert stored["turn_detection"]["mode"] == "semantic", stored
    conversation_id, details = await start_call(client, agent)
    audio = render_speech("What time do you open on Saturday?")
    script = CallScript(turns=[Utterance(audio, "open on Saturday")], reply_timeout=60)
    report = await join_conversation(
        details["websocket_url"], details["token"], details["room_name"], script
    )
    turn = report.turns[0]
    assert turn.reply is not None and turn.voice_to_voice is not None
    record = await closed_record(client, conversation_id)
    users = [m["text"].lower() for m in record["transcript"] if m["speaker"] == "user"]
    assert len(users) == 1 and "saturday" in users[0], record["transcript"]
    assert len([m for m in record["transcript"] if m["speaker"] == "agent"]) == 2


async def test_caller_interrupts_a_long_reply(
    idle_stack: Stack, client: httpx.AsyncClient, long_replies: None
) -> None:
    """The agent stops soon after the caller speaks over it, and the record keeps the reply
    as far as the caller heard it, marked interrupted."""
    agent = await new_agent(client, llm_model="gpt-4o-mini")
    conversation_id, details = await start_call(client, agent)
    barge_in = Interjection(render_speech("Sorry, stop, what about Sundays?"), after=3.0)
    script = CallScript(
        turns=[Utterance(render_speech("When do you open?"), "open", interjection=barge_in)],
        reply_timeout=60,
    )
    report = await join_conversation(
        details["websocket_url"], details["token"], details["room_name"], script
    )
    turn = report.turns[0]
    assert turn.interjected_at is not None, "the reply never started"
    assert turn.barge_in_stop is not None and turn.barge_in_stop < 1.5, turn.barge_in_stop
    # The worker reported pausing the reply after the caller's onset, by the time the caller
    # heard it stop (same host: its clock is ours; the quiet may begin in a dip of the reply
    # just before the pause reaches the caller).
    paused, stopped = turn.agent_paused_at, turn.agent_stopped_at
    assert paused is not None and stopped is not None
    assert turn.interjected_at < paused < stopped + 0.1, (turn.interjected_at, paused, stopped)

    record = await closed_record(client, conversation_id)
    replies = [m for m in record["transcript"] if m["speaker"] == "agent"][1:]
    assert replies and replies[0]["interrupted"] is True, record["transcript"]
    heard = normalized(replies[0]["text"])
    assert heard and LONG_REPLY.startswith(heard), heard
    assert len(heard) < 0.6 * len(LONG_REPLY), heard


async def test_backchannel_over_a_reply_does_not_stop_it(
    idle_stack: Stack, client: httpx.AsyncClient, long_replies: None
) -> None:
    agent = await new_agent(client, llm_model="gpt-4o-mini")
    conversation_id, details = await start_call(client, agent)
    nod = Interjection(render_speech("Yeah, yeah. Okay."), after=3.0)
    script = CallScript(
        turns=[Utterance(render_speech("When do you open?"), "open", interjection=nod)],
        reply_timeout=60,
        end_silence=5.0,  # a paused reply resumes within this (sound + hold + 1 s)
    )
    report = await join_conversation(
        details["websocket_url"], details["token"], details["room_name"], script
    )
    reply = report.turns[0].reply
    assert reply is not None and reply.duration > 12.0, reply and reply.duration

    record = await closed_record(client, conversation_id)
    agents = [m for m in record["transcript"] if m["speaker"] == "agent"]
    assert len(agents) == 2, record["transcript"]  # no second answer to "yeah, okay"
    assert agents[1]["interrupted"] is False
    assert normalized(agents[1]["text"]) == normalized(LONG_REPLY)
    assert not [m for m in record["transcript"] if m["speaker"] == "user"][1:]


async def test_silent_caller_is_reprompted_then_the_agent_hangs_up(
    idle_stack: Stack, client: httpx.AsyncClient
) -> None:
    agent = await new_agent(
        client,
        turn_detection={"timeout": 2.0, "end_call_on_silence": 7.0},
        custom_responses={"reprompt": "Are you still with me?", "farewell": "Goodbye for now."},
    )
    conversation_id, details = await start_call(client, agent)
    async with silent_caller(details) as (listener, hung_up):
        greeting = await listener.next_speech(after=0, start_timeout=60, end_silence=1.0)
        assert greeting is not None
        reprompt = await listener.next_speech(
            after=greeting.ended_at, start_timeout=10, end_silence=1.0
        )
        assert reprompt is not None, "no reprompt"
        farewell = await listener.next_speech(
            after=reprompt.ended_at, start_timeout=15, end_silence=1.0
        )
        assert farewell is not None, "no farewell"
        left_at = await asyncio.wait_for(hung_up, 15)

    assert 1.5 < reprompt.started_at - greeting.ended_at < 4.5
    assert 6.0 < farewell.started_at - greeting.ended_at < 10.0
    assert left_at >= farewell.ended_at - 0.5  # the farewell is heard before the hang-up
    record = await closed_record(client, conversation_id)
    assert (record["status"], record["end_reason"]) == ("success", "silence_timeout")
    said = [m["text"] for m in record["transcript"]]
    assert said == [GREETING, "Are you still with me?", "Goodbye for now."], said


async def test_call_reaching_its_maximum_length_ends_with_a_farewell(
    idle_stack: Stack, client: httpx.AsyncClient
) -> None:
    worker = idle_stack.processes["worker"].proc
    assert worker is not None
    tracks_before = capture_threads(worker.pid)
    agent = await new_agent(client, max_duration_seconds=10)
    conversation_id, details = await start_call(client, agent)
    async with silent_caller(details) as (listener, hung_up):
        greeting = await listener.next_speech(after=0, start_timeout=60, end_silence=1.0)
        assert greeting is not None
        farewell = await listener.next_speech(
            after=greeting.ended_at, start_timeout=20, end_silence=1.0
        )
        assert farewell is not None, "no farewell"
        await asyncio.wait_for(hung_up, 15)
    record = await closed_record(client, conversation_id)
    assert (record["status"], record["end_reason"]) == ("success", "max_duration")
    assert record["transcript"][-1]["text"] == "Thank you for calling. Goodbye!"
    assert 9.0 < record["duration"] < 16.0
    # The agent left before closing the room, so the worker let go of its published track
    # (a room deleted under the agent leaves it held for good: livekit/rust-sdks#1443).
    await poll_until(
        lambda: capture_threads(worker.pid) <= tracks_before, 15, "the agent's track released"
    )
