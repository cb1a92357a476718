"""Holding a scripted call: join the room (creating it and dispatching the agent, or joining
one started elsewhere), wait for the greeting, say each turn, measure the replies, hang up."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import numpy as np
from livekit import api, rtc

from shared.livekit_rooms import close_room_after_agent

from ..audio import CALLER_RATE, speech_segments
from .inbox import MetricsInbox
from .media import STOP_QUIET, AgentListener, Microphone
from .script import AgentSpeech, CallReport, CallScript, LiveKitEndpoint, TurnResult, Utterance


class Voice(Protocol):
    """Where the caller speaks: a room's microphone track, or a phone line."""

    frame_ms: int

    async def say(self, audio: np.ndarray) -> list[float]: ...


class Ears(Protocol):
    """What the caller hears of the agent: its room track, or a phone's earpiece."""

    async def next_speech(
        self, *, after: float, start_timeout: float, end_silence: float, max_duration: float = 60
    ) -> AgentSpeech | None: ...

    async def speech_start(self, *, after: float, within: float) -> float | None: ...

    async def quiet_from(self, *, after: float, quiet: float, within: float) -> float | None: ...

    def audible_between(self, start: float, end: float) -> bool: ...

    def backed_off_at(self, onset: float) -> float | None: ...


AGENT_LEAVE_TIMEOUT = 5.0
"""How long a hung-up caller's room is left for the agent to leave on its own: a caller
hangs up by leaving, and the room is deleted once the agent has left too
(`shared.livekit_rooms`)."""


async def place_call(endpoint: LiveKitEndpoint, script: CallScript) -> CallReport:
    """Create a room, dispatch the agent into it, hold the scripted conversation, hang up."""
    room_name = f"call-{uuid.uuid4().hex[:10]}"
    identity = f"caller-{uuid.uuid4().hex[:6]}"
    token = (
        api.AccessToken(endpoint.api_key, endpoint.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room_name))
        .to_jwt()
    )
    async with api.LiveKitAPI(endpoint.http_url, endpoint.api_key, endpoint.api_secret) as lkapi:
        await lkapi.room.create_room(api.CreateRoomRequest(name=room_name, empty_timeout=30))

        async def dispatch() -> None:
            if script.summon is not None:
                return await script.summon(room_name)
            await lkapi.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=script.agent_name, room=room_name, metadata=script.metadata
                )
            )

        try:
            return await _converse(endpoint.url, token, room_name, script, dispatch)
        finally:
            with contextlib.suppress(api.TwirpError):
                await close_room_after_agent(lkapi, room_name, AGENT_LEAVE_TIMEOUT)


async def join_conversation(url: str, token: str, room_name: str, script: CallScript) -> CallReport:
    """Join a call started elsewhere (e.g. the control plane's `POST /conversations`): the
    token's room configuration dispatches the agent when the caller joins."""
    return await _converse(url, token, room_name, script, None)


async def _converse(
    url: str,
    token: str,
    room_name: str,
    script: CallScript,
    dispatch: Callable[[], Awaitable[None]] | None,
) -> CallReport:
    room = rtc.Room()
    listener, inbox = AgentListener(script.keep_audio, script.frame_ms), MetricsInbox()
    listener.attach(room)
    inbox.attach(room)
    left: list[float] = []

    def on_leave(who: rtc.RemoteParticipant) -> None:
        if who.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            left.append(time.monotonic())

    room.on("participant_disconnected", on_leave)
    mic = Microphone(room, script.frame_ms)
    t0 = time.monotonic()
    await room.connect(url, token, rtc.RoomOptions(auto_subscribe=True))
    join_time = time.monotonic() - t0
    try:
        await mic.start()
        dispatched_at = time.monotonic() if dispatch is not None else t0
        if dispatch is not None:
            await dispatch()
        greeting, turns = await converse(mic, listener, script, dispatched_at, inbox)
    finally:
        await mic.aclose()
        await listener.aclose()
        await room.disconnect()
    bounds = [t.speech_end_at for t in turns] + [float("inf")]
    for i, turn in enumerate(turns):
        turn.agent_metrics = inbox.between(turn.speech_end_at, bounds[i + 1])
    agent_join = listener.joined_at - dispatched_at if listener.joined_at else None
    return CallReport(room_name, join_time, agent_join, greeting, turns, left[0] if left else None)


async def converse(
    mic: Voice,
    listener: Ears,
    script: CallScript,
    since: float,
    inbox: MetricsInbox | None = None,
) -> tuple[AgentSpeech | None, list[TurnResult]]:
    """The script's conversation once the call is up: the greeting heard after `since`,
    then each turn (with when the worker paused for a barge-in, when its telemetry is heard)."""
    greeting = None
    if script.expect_greeting:
        greeting = await listener.next_speech(
            after=since, start_timeout=script.greeting_timeout, end_silence=script.end_silence
        )
    turns: list[TurnResult] = []
    for utt in script.turns:
        turns.append(await take_turn(mic, listener, utt, script))
        if inbox is not None and (onset := turns[-1].interjected_at) is not None:
            turns[-1].agent_paused_at = inbox.agent_paused(after=onset)
        if script.on_turn is not None:
            script.on_turn(turns[-1])
    return greeting, turns


async def take_turn(mic: Voice, listener: Ears, utt: Utterance, script: CallScript) -> TurnResult:
    """Say one utterance (and what it says over the reply) and hear the agent's reply."""
    _, speech_end = utt.speech_bounds()
    sent_at = await mic.say(utt.audio)
    last_frame = min(int(speech_end * 1000 / mic.frame_ms), len(sent_at) - 1)
    speech_end_at = sent_at[last_frame]
    if utt.interjection is None:
        reply = await listener.next_speech(
            after=speech_end_at, start_timeout=script.reply_timeout, end_silence=script.end_silence
        )
        return TurnResult(said=utt.text, speech_end_at=speech_end_at, reply=reply)
    # Speak over the reply, then see when (and whether) the agent's audio stops.
    replying = asyncio.create_task(
        listener.next_speech(
            after=speech_end_at, start_timeout=script.reply_timeout, end_silence=script.end_silence
        )
    )
    interjected_at = stopped_at = backed_off_at = None
    started = await listener.speech_start(after=speech_end_at, within=script.reply_timeout)
    if started is not None:
        inter = utt.interjection
        await asyncio.sleep(max(0.0, started + inter.after - time.monotonic()))
        inter_sent = await mic.say(inter.audio)
        onset = speech_segments(inter.audio, CALLER_RATE)
        first = int(onset[0].start * 1000 / mic.frame_ms) if onset else 0
        interjected_at = inter_sent[min(first, len(inter_sent) - 1)]
        # An agent silent at the onset (between sentences) had nothing to stop.
        if listener.audible_between(interjected_at - STOP_QUIET, interjected_at):
            stopped_at = await listener.quiet_from(
                after=interjected_at, quiet=STOP_QUIET, within=script.reply_timeout
            )
            backed_off_at = listener.backed_off_at(interjected_at)
    reply = await replying
    answer = None
    if started is not None and utt.interjection.expect_answer:
        answer = await listener.next_speech(
            after=inter_sent[-1], start_timeout=script.reply_timeout, end_silence=script.end_silence
        )
    return TurnResult(
        said=utt.text,
        speech_end_at=speech_end_at,
        reply=reply,
        interjected_at=interjected_at,
        agent_stopped_at=stopped_at,
        agent_backed_off_at=backed_off_at,
        answer=answer,
    )
