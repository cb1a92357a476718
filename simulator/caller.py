"""A simulated caller: a real LiveKit participant that speaks, listens and measures.

The caller publishes a continuous microphone track (silence between utterances, like a real
phone), records the agent's audio track with arrival times, and finds the agent's speech in it.
Voice-to-voice latency is measured entirely on the caller's side: from the moment the last
speech sample of an utterance was handed to WebRTC to the arrival of the first audible agent
frame after it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from livekit import api, rtc

from shared import telemetry
from shared.livekit_rooms import close_room_after_agent

from .audio import CALLER_RATE, FRAME_MS, frame_rms_dbfs, speech_segments

logger = logging.getLogger("simulator.caller")

AGENT_LEVEL_DBFS = -45.0
STOP_QUIET = 0.5
"""Quiet that counts as the agent having stopped (longer than its pauses between words)."""
"""A received 10 ms frame louder than this is agent speech."""


@dataclass(frozen=True)
class LiveKitEndpoint:
    """Where the media server is and the keys to use it."""

    url: str
    api_key: str
    api_secret: str

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://").replace("wss://", "https://")


@dataclass
class Interjection:
    """Something the caller says over the agent's reply: a barge-in, a backchannel, a cough."""

    audio: np.ndarray
    """int16 mono at CALLER_RATE."""
    after: float = 1.5
    """Seconds into the agent's reply (as the caller hears it) at which it starts."""
    text: str = ""
    expect_answer: bool = False
    """A barge-in the agent answers: the turn ends after that answer, so the next turn is
    not said over it."""


@dataclass
class Utterance:
    """What the caller says in one turn."""

    audio: np.ndarray
    """int16 mono at CALLER_RATE."""
    text: str = ""
    interjection: Interjection | None = None
    """Said over the agent's reply to this utterance."""

    def speech_bounds(self) -> tuple[float, float]:
        """Start and end of speech within the audio, in seconds."""
        segs = speech_segments(self.audio, CALLER_RATE)
        if not segs:
            raise ValueError(f"utterance {self.text!r} has no audible speech")
        return segs[0].start, segs[-1].end


@dataclass
class AgentSpeech:
    """One stretch of agent audio as the caller received it."""

    started_at: float
    ended_at: float
    audio: np.ndarray
    transcript: str = ""

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at


@dataclass
class TurnResult:
    """One caller utterance and what came back."""

    said: str
    speech_end_at: float
    reply: AgentSpeech | None
    agent_metrics: dict[str, float] = field(default_factory=dict)
    interjected_at: float | None = None
    """When the interjection's sound started, in the audio the caller sent."""
    agent_stopped_at: float | None = None
    """When the agent's audio first went quiet (for `STOP_QUIET` s) after the interjection."""
    agent_paused_at: float | None = None
    """When the worker paused the agent's audio after the interjection, by its own report
    (same-host callers only): splits the stop into the agent's reaction and the way back."""
    answer: AgentSpeech | None = None
    """The agent's answer to an interjection that `expect_answer`s."""

    @property
    def barge_in_stop(self) -> float | None:
        """Caller starts speaking over the agent -> the agent's audio stops, as heard."""
        if self.interjected_at is None or self.agent_stopped_at is None:
            return None
        return self.agent_stopped_at - self.interjected_at

    @property
    def barge_in_pause(self) -> float | None:
        """Caller starts speaking over the agent -> the worker pauses its audio (its report)."""
        if self.interjected_at is None or self.agent_paused_at is None:
            return None
        return self.agent_paused_at - self.interjected_at

    @property
    def reply_heard(self) -> bool:
        return self.reply is not None

    @property
    def voice_to_voice(self) -> float | None:
        return self.reply.started_at - self.speech_end_at if self.reply else None


@dataclass
class CallReport:
    """Everything one simulated call observed."""

    room: str
    join_time: float
    agent_join_time: float | None
    greeting: AgentSpeech | None
    turns: list[TurnResult]
    agent_left_at: float | None = None
    """When the agent left the room while the caller was still on the call."""

    @property
    def greeting_heard(self) -> bool:
        return self.greeting is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "join_time": self.join_time,
            "agent_join_time": self.agent_join_time,
            "greeting_heard": self.greeting_heard,
            "greeting_transcript": self.greeting.transcript if self.greeting else None,
            "turns": [
                {
                    "said": t.said,
                    "reply_heard": t.reply_heard,
                    "reply_transcript": t.reply.transcript if t.reply else None,
                    "voice_to_voice": t.voice_to_voice,
                    "agent_metrics": t.agent_metrics,
                }
                for t in self.turns
            ],
        }


class Microphone:
    """Publishes a continuous 48 kHz mono track: queued utterances, silence otherwise."""

    def __init__(self, room: rtc.Room, frame_ms: int = FRAME_MS) -> None:
        self._room = room
        self.frame_ms = frame_ms
        # A short queue keeps "handed to WebRTC" within a frame or two of "sent".
        self._source = rtc.AudioSource(CALLER_RATE, 1, queue_size_ms=max(20, 2 * frame_ms))
        self._step = CALLER_RATE * frame_ms // 1000
        self._pending: asyncio.Queue[tuple[np.ndarray, asyncio.Future[list[float]]]] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        track = rtc.LocalAudioTrack.create_audio_track("caller-mic", self._source)
        opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self._room.local_participant.publish_track(track, opts)
        self._task = asyncio.create_task(self._pump(), name="caller-mic")

    async def say(self, audio: np.ndarray) -> list[float]:
        """Play `audio`; returns the send time (monotonic) of each of its frames."""
        done: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        await self._pending.put((audio, done))
        return await done

    async def _pump(self) -> None:
        silence = np.zeros(self._step, np.int16)
        while True:
            try:
                audio, done = self._pending.get_nowait()
            except asyncio.QueueEmpty:
                await self._send(silence)
                continue
            sent_at: list[float] = []
            for i in range(0, len(audio), self._step):
                chunk = audio[i : i + self._step]
                if len(chunk) < self._step:
                    chunk = np.concatenate([chunk, silence[: self._step - len(chunk)]])
                await self._send(chunk)
                sent_at.append(time.monotonic())
            if not done.done():
                done.set_result(sent_at)

    async def _send(self, chunk: np.ndarray) -> None:
        frame = rtc.AudioFrame(chunk.tobytes(), CALLER_RATE, 1, len(chunk))
        await self._source.capture_frame(frame)

    async def aclose(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._source.aclose()


_NO_AUDIO = np.zeros(0, np.int16)


class AgentListener:
    """Records the agent's audio track with arrival times and finds its speech."""

    def __init__(self, keep_audio: bool = True, frame_ms: int = FRAME_MS) -> None:
        self._keep_audio = keep_audio
        self._frame_ms = frame_ms
        self._times: list[float] = []
        self._loud: list[bool] = []
        self._chunks: list[np.ndarray] = []
        self._last_loud = -1  # index of the latest audible frame
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self.joined_at: float | None = None

    def attach(self, room: rtc.Room) -> None:
        room.on("track_subscribed", self._on_track)

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        is_agent = who.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        if track.kind != rtc.TrackKind.KIND_AUDIO or not is_agent:
            return
        self.joined_at = self.joined_at or time.monotonic()
        task = asyncio.create_task(self._record(track), name="agent-audio")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream.from_track(
            track=track, sample_rate=CALLER_RATE, num_channels=1, frame_size_ms=self._frame_ms
        )
        try:
            async for ev in stream:
                samples = np.frombuffer(ev.frame.data, np.int16).copy()
                loud = frame_rms_dbfs(samples) > AGENT_LEVEL_DBFS
                async with self._changed:
                    self._times.append(time.monotonic())
                    self._loud.append(loud)
                    self._chunks.append(samples if self._keep_audio else _NO_AUDIO)
                    if loud:
                        self._last_loud = len(self._loud) - 1
                    self._changed.notify_all()
        finally:
            await stream.aclose()

    async def next_speech(
        self, *, after: float, start_timeout: float, end_silence: float, max_duration: float = 60
    ) -> AgentSpeech | None:
        """The first agent speech arriving after `after`, ended by `end_silence` of quiet.

        Returns None if nothing audible arrives within `start_timeout` seconds.
        """
        deadline = time.monotonic() + start_timeout
        start_idx = await self._wait_for(lambda: self._first_loud_after(after), deadline)
        if start_idx is None:
            return None
        started_at = self._times[start_idx]
        hard_stop = started_at + max_duration

        def ended() -> int | None:
            last = self._last_loud_from(start_idx)
            now = time.monotonic()
            if now - self._times[last] >= end_silence or now >= hard_stop:
                return last
            return None

        end_idx = await self._wait_for(ended, hard_stop + end_silence, poll=0.05)
        if end_idx is None:
            end_idx = self._last_loud_from(start_idx)
        audio = np.concatenate(self._chunks[start_idx : end_idx + 1])
        return AgentSpeech(started_at, self._times[end_idx] + self._frame_ms / 1000, audio)

    async def speech_start(self, *, after: float, within: float) -> float | None:
        """When the first audible agent audio after `after` arrived (None: none in time)."""
        idx = await self._wait_for(lambda: self._first_loud_after(after), time.monotonic() + within)
        return self._times[idx] if idx is not None else None

    async def quiet_from(self, *, after: float, quiet: float, within: float) -> float | None:
        """Arrival of the first frame after `after` that starts `quiet` s without agent
        sound: where its audio stopped (None: it kept talking for `within` s)."""
        need = max(1, round(quiet * 1000 / self._frame_ms))

        def probe() -> float | None:
            run = 0
            for i in range(bisect.bisect_right(self._times, after), len(self._times)):
                run = 0 if self._loud[i] else run + 1
                if run >= need:
                    return self._times[i - need + 1]
            return None

        return await self._wait_for(probe, time.monotonic() + within, poll=0.05)

    def audible_between(self, start: float, end: float) -> bool:
        """Whether any agent audio frame that arrived in (start, end] was audible."""
        lo = bisect.bisect_right(self._times, start)
        hi = bisect.bisect_right(self._times, end)
        return any(self._loud[lo:hi])

    def _first_loud_after(self, t: float) -> int | None:
        for i in range(len(self._times) - 1, -1, -1):
            if self._times[i] <= t:
                break
        else:
            i = -1
        for j in range(i + 1, len(self._times)):
            if self._loud[j]:
                return j
        return None

    def _last_loud_from(self, start: int) -> int:
        return max(start, self._last_loud)

    async def _wait_for(self, probe: Any, deadline: float, poll: float | None = None) -> Any:
        """Re-evaluate `probe` on each received frame (or every `poll` s) until it answers."""
        while True:
            result = probe()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait = min(remaining, poll) if poll else remaining
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class MetricsInbox:
    """The worker's telemetry (`shared.telemetry`) received on the data channel, with arrival
    times."""

    def __init__(self) -> None:
        self.items: list[tuple[float, telemetry.TelemetryEvent]] = []

    def attach(self, room: rtc.Room) -> None:
        room.on("data_received", self._on_data)

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic != telemetry.METRICS_TOPIC:
            return
        event = telemetry.decode(packet.data)
        if event is None:
            logger.debug("ignoring a metrics packet of another kind")
            return
        self.items.append((time.monotonic(), event))

    def state_change(
        self,
        kind: Literal["user_state", "agent_state"],
        new: str,
        *,
        after: float,
        old: str | None = None,
    ) -> float | None:
        """When the worker reported the first `kind` (the caller's or the agent's) state change
        to `new` (from `old`) at or after `after`, on our monotonic clock. The worker stamps
        its wall clock, so this holds for a caller on the worker's host only."""
        wanted = _STATE_EVENTS[kind]
        offset = time.time() - time.monotonic()
        for _, m in self.items:
            if not isinstance(m, wanted) or m.new != new or (old and m.old != old):
                continue
            at = m.at - offset
            if at >= after:
                return at
        return None

    def agent_paused(self, *, after: float) -> float | None:
        """When the worker first paused the agent's speech at or after `after` (its state
        going from speaking to listening); same-host callers only, as `state_change`."""
        return self.state_change("agent_state", "listening", old="speaking", after=after)

    def between(self, start: float, end: float) -> dict[str, float]:
        """Agent-side breakdown of the metrics received in [start, end)."""
        out: dict[str, float] = {}
        lag_means: list[float] = []
        for t, m in self.items:
            if not start <= t < end:
                continue
            match m:
                case telemetry.EouMetrics() if "end_of_utterance_delay" not in out:
                    out["end_of_utterance_delay"] = m.end_of_utterance_delay
                    out["transcription_delay"] = m.transcription_delay
                case telemetry.SttMetrics() if m.audio_duration > 0:
                    out["stt_duration"] = m.duration
                case telemetry.TurnMetrics(role="assistant"):
                    for key in ("e2e_latency", "llm_node_ttfs"):
                        if key in m.stages and f"agent_{key}" not in out:
                            out[f"agent_{key}"] = m.stages[key]
                case telemetry.LlmMetrics() if "llm_ttft" not in out and m.speech_id:
                    out["llm_ttft"] = m.ttft
                case telemetry.TtsMetrics() if "tts_ttfb" not in out and m.ttfb >= 0:
                    out["tts_ttfb"] = m.ttfb
                case telemetry.LoopLag():
                    out["loop_lag_max"] = max(out.get("loop_lag_max", 0.0), m.max)
                    lag_means.append(m.mean)
        if lag_means:
            out["loop_lag_mean"] = sum(lag_means) / len(lag_means)
        return out


_STATE_EVENTS: dict[str, type[telemetry.StateChanged]] = {
    "user_state": telemetry.UserStateChanged,
    "agent_state": telemetry.AgentStateChanged,
}


@dataclass
class CallScript:
    """What the caller does: wait for the greeting, then say each utterance in turn."""

    turns: Iterable[Utterance]
    agent_name: str = "voice-agent"
    metadata: str = ""
    greeting_timeout: float = 30.0
    reply_timeout: float = 30.0
    end_silence: float = 1.2
    """Quiet after agent audio that ends its turn (covers gaps between its sentences)."""
    expect_greeting: bool = True
    keep_audio: bool = True
    """Keep the agent's audio (for transcripts); a long load test only needs its timing."""
    on_turn: Callable[[TurnResult], None] | None = None
    """Called as each turn completes (a load test's live progress); `turns` may then be any
    iterable, e.g. one that ends when the test stops."""
    frame_ms: int = FRAME_MS
    """The caller's audio frames both ways: 10 ms times everything to 10 ms; a load test with
    many callers in one process sends and hears 20 ms frames, half the work per second."""
    summon: Callable[[str], Awaitable[None]] | None = None
    """Brings an agent that is not a livekit-agents worker into the named room (a peer
    runtime's own API); None: LiveKit's agent dispatch of `agent_name`."""


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


AGENT_LEAVE_TIMEOUT = 5.0
"""How long a hung-up caller's room is left for the agent to leave on its own: a caller
hangs up by leaving, and the room is deleted once the agent has left too
(`shared.livekit_rooms`)."""


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
        greeting = None
        if script.expect_greeting:
            greeting = await listener.next_speech(
                after=dispatched_at,
                start_timeout=script.greeting_timeout,
                end_silence=script.end_silence,
            )
        turns: list[TurnResult] = []
        for utt in script.turns:
            turns.append(await _take_turn(mic, listener, utt, script))
            if (onset := turns[-1].interjected_at) is not None:
                turns[-1].agent_paused_at = inbox.agent_paused(after=onset)
            if script.on_turn is not None:
                script.on_turn(turns[-1])
    finally:
        await mic.aclose()
        await listener.aclose()
        await room.disconnect()
    bounds = [t.speech_end_at for t in turns] + [float("inf")]
    for i, turn in enumerate(turns):
        turn.agent_metrics = inbox.between(turn.speech_end_at, bounds[i + 1])
    agent_join = listener.joined_at - dispatched_at if listener.joined_at else None
    return CallReport(room_name, join_time, agent_join, greeting, turns, left[0] if left else None)


async def _take_turn(
    mic: Microphone, listener: AgentListener, utt: Utterance, script: CallScript
) -> TurnResult:
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
    interjected_at = stopped_at = None
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
        answer=answer,
    )
