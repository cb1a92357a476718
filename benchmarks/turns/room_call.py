"""One call with the agent under test: each turn a question, then a clip said over the reply,
and what the clip did to the reply as the caller hears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from typing import Any

import numpy as np
from livekit import api, rtc

from agent.contract import AgentConfig
from benchmarks.turns.common import FRAME_MS, ms
from benchmarks.turns.room_trials import ScriptedModel, Trial
from simulator.audio import CALLER_RATE, speech_segments
from simulator.caller import STOP_QUIET, AgentListener, MetricsInbox, Microphone, backed_off
from simulator.stack import Stack

SETTLE_QUIET = 1.5
"""Agent quiet before each question: the previous turn is over."""
RESUME_MARGIN = 2.5
"""Quiet that ends a turn, beyond `false_interruption_timeout`: longer than any pause before a
resumed reply."""
REPLY_TIMEOUT = 30.0


def agent_audio(listener: AgentListener) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival time, audibility and level (dBFS) of each 10 ms frame of agent audio so far."""
    n = min(len(listener._times), len(listener._loud), len(listener._levels))
    return (
        np.array(listener._times[:n]),
        np.array(listener._loud[:n], dtype=bool),
        np.array(listener._levels[:n]),
    )


SILENCE_WINDOW_S = 2.0
"""Backchannels: the quiet the caller hears is looked for from the onset this far on."""


def longest_quiet(times: np.ndarray, loud: np.ndarray, start: float, end: float) -> float:
    """Seconds of the longest quiet heard from `start` on: runs of quiet frames from a frame in
    [start, end) (one under way at `start` counts from there) that end before the last loud
    frame (a quiet the reply comes back from; 0 when there is none)."""
    last_loud = np.flatnonzero(loud)
    if not len(last_loud):
        return 0.0
    best, run_start = 0.0, None
    for k in range(len(times)):
        if k > last_loud[-1]:
            break
        if not loud[k]:
            if run_start is None and start <= times[k] < end:
                run_start = k
        elif run_start is not None:
            best = max(best, float(times[k] - times[run_start]))
            run_start = None
    return best


def classify(
    times: np.ndarray,
    loud: np.ndarray,
    onset: float,
    stopped_at: float | None,
    ended_at: float,
    answered: bool,
    stop_timeout: float,
) -> dict[str, Any]:
    """What the interjection did to the reply: "not_stopped", "resumed" or "lost"."""
    if not loud[(times > onset - STOP_QUIET) & (times <= onset)].any():
        return {"outcome": "invalid", "why": "the agent was not speaking at the onset"}
    quiet_after = None if stopped_at is None else stopped_at - onset
    stop = quiet_after if quiet_after is not None and quiet_after <= stop_timeout else None
    out: dict[str, Any] = {"stop_s": stop, "quiet_after_s": quiet_after, "pause_s": None}
    if stop is None:
        return {**out, "outcome": "lost" if answered else "not_stopped"}
    assert stopped_at is not None
    back = times[loud & (times >= stopped_at + STOP_QUIET) & (times < ended_at)]
    if len(back) and not answered:
        return {**out, "outcome": "resumed", "pause_s": float(back[0]) - stopped_at}
    return {**out, "outcome": "lost"}


def agent_reaction(inbox: MetricsInbox, onset: float) -> dict[str, float | None]:
    """Where the stop went, from the worker's state changes: onset -> its VAD declared the
    caller speaking -> it paused the agent's audio. What follows the pause to the caller's
    quiet is its output and the media path back."""
    speaking = inbox.state_change("user_state", "speaking", after=onset)
    paused = inbox.agent_paused(after=onset)
    return {
        "vad_start_s": None if speaking is None else speaking - onset,
        "paused_s": None if paused is None else paused - onset,
    }


async def room_turn(
    mic: Microphone,
    listener: AgentListener,
    inbox: MetricsInbox,
    model: ScriptedModel,
    trial: Trial,
    *,
    after: float,
    stop_timeout: float,
    resume_window: float,
) -> dict[str, Any]:
    """Ask, wait `after` s into the reply, say the clip over it, and watch the reply."""
    clip = trial.spoken.clip
    record: dict[str, Any] = {
        "kind": trial.kind,
        "clip": clip.id,
        "sound": clip.kind,
        "text": clip.text,
        "question": trial.question,
    }
    await listener.quiet_from(after=time.monotonic(), quiet=SETTLE_QUIET, within=60)
    model.interjected_at = None
    speech_end = speech_segments(trial.question_audio, CALLER_RATE)[-1].end
    sent = await mic.say(trial.question_audio)
    asked_at = sent[min(int(speech_end * 1000 / FRAME_MS), len(sent) - 1)]
    started = await listener.speech_start(after=asked_at, within=REPLY_TIMEOUT)
    if started is None:
        return {**record, "outcome": "invalid", "why": "no reply to the question"}
    await asyncio.sleep(max(0.0, started + after - time.monotonic()))
    model.interjected_at = time.monotonic()
    sent = await mic.say(trial.spoken.audio)
    onset = sent[min(int(trial.spoken.onset * 1000 / FRAME_MS), len(sent) - 1)]
    stopped = await listener.quiet_from(after=onset, quiet=STOP_QUIET, within=REPLY_TIMEOUT)
    ended = await listener.quiet_from(after=stopped or onset, quiet=resume_window, within=90)
    times, loud, levels = agent_audio(listener)
    answered = model.answered_since(model.interjected_at)
    outcome = classify(
        times, loud, onset, stopped, ended or time.monotonic(), bool(answered), stop_timeout
    )
    return {
        **record,
        "reply_after_s": started - asked_at,
        **outcome,
        "backoff_s": backed_off(times, levels, onset),
        # the quiet the caller heard after the onset, beside the reply's own longest pause
        # in the 3 s before it
        "silence_s": longest_quiet(times, loud, onset, onset + SILENCE_WINDOW_S),
        "natural_silence_s": longest_quiet(times, loud, onset - 3.0, onset - 0.2),
        **agent_reaction(inbox, onset),
        "answered": answered,
    }


async def room_call(
    stack: Stack,
    agent: AgentConfig,
    trials: list[Trial],
    model: ScriptedModel,
    *,
    after: float,
    stop_timeout: float,
) -> list[dict[str, Any]]:
    """One call: the agent is dispatched with `agent` inline, greets, then each trial is a turn."""
    endpoint = stack.endpoint
    room_name = f"turns-{uuid.uuid4().hex[:10]}"
    token = (
        api.AccessToken(endpoint.api_key, endpoint.api_secret)
        .with_identity(f"caller-{uuid.uuid4().hex[:6]}")
        .with_grants(api.VideoGrants(room_join=True, room=room_name))
        .to_jwt()
    )
    resume_window = agent.turn_detection.false_interruption_timeout + RESUME_MARGIN
    async with api.LiveKitAPI(endpoint.http_url, endpoint.api_key, endpoint.api_secret) as lkapi:
        await lkapi.room.create_room(api.CreateRoomRequest(name=room_name, empty_timeout=30))
        room = rtc.Room()
        listener = AgentListener()
        listener.attach(room)
        inbox = MetricsInbox()
        inbox.attach(room)
        mic = Microphone(room)
        try:
            await room.connect(endpoint.url, token, rtc.RoomOptions(auto_subscribe=True))
            await mic.start()
            dispatched = time.monotonic()
            await lkapi.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=stack.config.agent_name,
                    room=room_name,
                    metadata=agent.to_metadata(),
                )
            )
            greeting = await listener.next_speech(after=dispatched, start_timeout=60, end_silence=1)
            if greeting is None:
                return [
                    {
                        "kind": t.kind,
                        "clip": t.spoken.clip.id,
                        "outcome": "invalid",
                        "why": "no greeting",
                    }
                    for t in trials
                ]
            records = []
            for trial in trials:
                record = await room_turn(
                    mic,
                    listener,
                    inbox,
                    model,
                    trial,
                    after=after,
                    stop_timeout=stop_timeout,
                    resume_window=resume_window,
                )
                print(f"    {describe(record)}", file=sys.stderr, flush=True)
                records.append(record)
            return records
        finally:
            await mic.aclose()
            await listener.aclose()
            await room.disconnect()
            with contextlib.suppress(api.TwirpError):
                await lkapi.room.delete_room(api.DeleteRoomRequest(room=room_name))


def describe(record: dict[str, Any]) -> str:
    """One line per trial for the progress log."""
    line = f"{record['kind']:<11} {record['clip']:<40} {record['outcome']}"
    if record.get("why"):
        line += f" ({record['why']})"
    if record.get("quiet_after_s") is not None:
        line += f", quiet after {ms(record['quiet_after_s'])} ms"
    if record.get("paused_s") is not None:
        line += f" (VAD {ms(record['vad_start_s'])}, paused {ms(record['paused_s'])})"
    if record.get("pause_s") is not None:
        line += f", back after {ms(record['pause_s'])} ms"
    if record.get("answered"):
        line += f", answered {record['answered']}"
    return line
