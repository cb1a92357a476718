"""Phone calls: what the phone path costs in latency and in recognition, against WebRTC.

Latency: one stack (livekit-server, the embedded LLM server, one worker), the phone gateway,
a control plane and a fake Twilio. One agent answers calls on both paths, one call at a time,
alternating: a phone call placed through the fake Twilio (8 kHz mu-law over the media stream,
the gateway bridging it to the room), and a WebRTC call (`POST /conversations`, the simulated
caller joining the room). Each call asks the same questions as `latency.py`, in the same
espeak-ng voice. Voice-to-voice is measured at the caller on both: WebRTC, from the send time of
the 10 ms frame holding the end of the question to the arrival of the first audible agent frame
(`simulator.caller`); phone, from the send time of the last audible 20 ms frame of the question
(`Said.speech_ended_at`) to the earpiece tick that played the first audible agent frame.

A hidden participant in each call's room (it publishes nothing and the agent cannot see it)
splits every turn into three legs that add up to voice-to-voice: inbound (caller's end of
speech -> the room hears it), the room side (the room hears the end -> the room hears the
agent), outbound (the room hears the agent -> the caller hears it). On the phone the outbound
leg is split again at the media message's arrival at the fake phone: after it, the audio the
gateway had already queued in the earpiece plays first (a real Twilio buffers it the same way),
then the fake's own pacing (one 20 ms frame per tick: up to 20 ms more), which a real phone
network does differently. Both paths get the agent's per-turn stages over the data channel.

STT: a corpus of numbers, names, addresses, short commands and questions spoken by three
espeak-ng voices and the agent's Piper voice, transcribed by the agent's Whisper as the agent
decodes (short window, greedy) at 16 kHz, and after the phone's path (16 k -> 8 k, mu-law both
ways, the gateway's 8 k -> 48 k resampler, the worker's 48 k -> 16 k), then with what might
help on the phone path. Word error rate after a normalisation applied alike to the reference
and the transcript (`normalize`).

    .venv/bin/python benchmarks/phone.py                     # both parts, embedded LLM
    .venv/bin/python benchmarks/phone.py --latency-only --llm fake --calls 6
    .venv/bin/python benchmarks/phone.py --stt-only
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livekit import api, rtc  # noqa: E402

from benchmarks.latency import QUESTIONS  # noqa: E402
from fake_providers.common import ESPEAK_RATE, synthesize  # noqa: E402
from fake_providers.twilio import FakeCall, FakePhone, FakeTwilio  # noqa: E402
from fake_providers.twilio.audio import audible, frame_rms, to_ulaw, ulaw_frames  # noqa: E402
from shared.audio import resample, ulaw_decode, ulaw_encode  # noqa: E402
from shared.stats import percentile  # noqa: E402
from simulator.audio import CALLER_RATE, FRAME_MS, frame_rms_dbfs  # noqa: E402
from simulator.caller import (  # noqa: E402
    AGENT_LEVEL_DBFS,
    CallScript,
    MetricsInbox,
    Utterance,
    join_conversation,
)
from simulator.speech import render_speech  # noqa: E402
from simulator.stack import (  # noqa: E402
    ManagedProcess,
    Stack,
    StackConfig,
    admin,
    control_plane_process,
    fake_openai_process,
    gateway_process,
)

# --- latency: phone against WebRTC ------------------------------------------------------------

AGENT_NAME = "bench-phone"
LIVEKIT_PORT, LIVEKIT_UDP_PORT, LLM_PORT, WORKER_HTTP_PORT = 7990, 7992, 8198, 8191
CONTROL_PLANE_PORT, GATEWAY_PORT, TWILIO_PORT = 8494, 8495, 9593
ACCOUNT = "AC" + "b7" * 16
TWILIO_TOKEN = "bench-phone-twilio-token-0123"  # noqa: S105 - the fake's account
OPENAI_KEY = "sk-bench-phone"
NUMBER, CALLER = "+15550002222", "+15559997777"
GREETING = "Hello, thanks for calling. How can I help?"
FAKE_REPLY = "Sure. Here is a short answer to your question, and I hope it helps."
"""The fake model's one answer: both paths hear the same reply whatever Whisper heard."""
END_SILENCE = 1.2
"""Quiet that ends the agent's turn, as `CallScript.end_silence` (covers its pauses)."""
STAGES = [
    "end_of_utterance_delay",
    "stt_duration",
    "llm_ttft",
    "tts_ttfb",
    "agent_e2e_latency",
]
LEGS = [
    "inbound",
    "room",
    "outbound",
    "phone_tick_wait",
    "phone_backlog",
    "line_published_after",
]
PATHS = ("phone", "webrtc")


@dataclass
class TurnTiming:
    """One question and its reply, in seconds; legs are None when the observer missed them."""

    path: str
    call: int
    turn: int
    said: str
    voice_to_voice: float | None
    inbound: float | None = None
    """The caller's end of speech (its send time) -> the room hears the last of it."""
    line_published_after: float | None = None
    """Phone only: the media stream started -> the gateway's track was listed in the room
    (the caller's audio sent meanwhile waits in the gateway)."""
    room: float | None = None
    """The room hears the end of the question -> the room hears the agent's first sound."""
    outbound: float | None = None
    """The room hears the agent's first sound -> the caller hears it."""
    phone_tick_wait: float | None = None
    """Phone only: that sound's media message reached the fake phone -> its tick played it."""
    phone_backlog: float | None = None
    """Phone only: the audio already queued in the fake phone's earpiece when that message
    came (what the gateway had sent ahead of real time: a real Twilio plays it first too)."""
    agent_metrics: dict[str, float] = field(default_factory=dict)


class RoomObserver:
    """A hidden participant that hears both sides of a call's room and its telemetry.

    It stands at the same place on both paths (a subscriber of livekit-server on this host), so
    the time it hears the caller's last word and the agent's first is the fixed point that
    splits voice-to-voice into the way in, the agent, and the way out.
    """

    def __init__(self) -> None:
        self.room = rtc.Room()
        self.inbox = MetricsInbox()
        self.joined_at = 0.0
        self.caller_published_at = 0.0
        """When the caller's track was first listed in the room (polled every 20 ms)."""
        self._heard: dict[str, tuple[list[float], list[bool]]] = {
            "agent": ([], []),
            "caller": ([], []),
        }
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self, url: str, token: str) -> None:
        self.room.on("track_subscribed", self._on_track)
        self.inbox.attach(self.room)
        await self.room.connect(url, token)
        self.joined_at = time.monotonic()

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        side = "agent" if who.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT else "caller"
        task = asyncio.create_task(self._record(track, side))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, track: rtc.Track, side: str) -> None:
        stream = rtc.AudioStream.from_track(
            track=track, sample_rate=CALLER_RATE, num_channels=1, frame_size_ms=FRAME_MS
        )
        times, loud = self._heard[side]
        try:
            async for ev in stream:
                level = frame_rms_dbfs(np.frombuffer(ev.frame.data, np.int16))
                times.append(time.monotonic())
                loud.append(level > AGENT_LEVEL_DBFS)
        finally:
            await stream.aclose()

    def first_loud(self, side: str, after: float) -> float | None:
        times, loud = self._heard[side]
        return next((t for t, x in zip(times, loud, strict=True) if x and t > after), None)

    def last_loud(self, side: str, after: float, before: float) -> float | None:
        times, loud = self._heard[side]
        found = [t for t, x in zip(times, loud, strict=True) if x and after < t <= before]
        return found[-1] if found else None

    async def leave(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.room.disconnect()


@dataclass
class Bench:
    """What the calls need: the stack, the control plane's company and agent, the fake."""

    stack: Stack
    api: str
    headers: dict[str, str]
    agent_id: str
    twilio: FakeTwilio


async def observe(bench: Bench, room_name: str) -> RoomObserver:
    """Join `room_name` hidden once its caller is in it: joining first would create the room
    without the caller's room configuration, and so without the agent's dispatch."""
    ep = bench.stack.endpoint
    async with api.LiveKitAPI(ep.http_url, ep.api_key, ep.api_secret) as lkapi:
        deadline = time.monotonic() + 30
        while True:
            listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room_name))
            if any(p.tracks for p in listed.participants):
                published_at = time.monotonic()
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"nobody published in {room_name}")
            await asyncio.sleep(0.02)
    grants = api.VideoGrants(
        room_join=True, room=room_name, hidden=True, can_publish=False, can_publish_data=False
    )
    token = (
        api.AccessToken(ep.api_key, ep.api_secret)
        .with_identity(f"observer-{uuid.uuid4().hex[:6]}")
        .with_grants(grants)
        .to_jwt()
    )
    observer = RoomObserver()
    observer.caller_published_at = published_at
    await observer.join(ep.url, token)
    return observer


def split(observer: RoomObserver, turn: TurnTiming, speech_end: float, heard: float | None) -> None:
    """Fill in the turn's legs from what the observer heard (they add up to voice-to-voice)."""
    if heard is None or observer.joined_at > speech_end:
        return
    agent_at = observer.first_loud("agent", after=speech_end)
    # Both hear the agent through livekit-server: the observer may be a few ms after the caller.
    if agent_at is None or agent_at > heard + 0.2:
        return
    caller_end = observer.last_loud("caller", after=speech_end - 1.0, before=agent_at)
    if caller_end is None:
        return
    turn.inbound = caller_end - speech_end
    turn.room = agent_at - caller_end
    turn.outbound = heard - agent_at


def stamp_arrivals(phone: FakePhone) -> list[tuple[float, bool, float]]:
    """(arrival time, audible, audio already queued in seconds) of every media message the fake
    phone receives.

    The fake stamps when its earpiece plays a frame, not when the frame arrived; wrapping its
    queueing of media is the only way to tell the gateway's outbound time from the earpiece's
    20 ms tick.
    """
    arrivals: list[tuple[float, bool, float]] = []
    queue_media = phone._queue_media

    def stamped(message: dict[str, Any]) -> None:
        payload = (message.get("media") or {}).get("payload") or ""
        with contextlib.suppress(ValueError):
            loud = audible(frame_rms(base64.b64decode(payload)))
            arrivals.append((time.monotonic(), loud, phone.queued_ms / 1000))
        queue_media(message)

    phone._queue_media = stamped  # type: ignore[method-assign]
    return arrivals


async def phone_call(bench: Bench, index: int, questions: list[Utterance]) -> list[TurnTiming]:
    call: FakeCall = await bench.twilio.place_inbound_call(
        voice_url=f"{bench.api}/telephony/twilio/voice",
        to=NUMBER,
        from_=CALLER,
        account_sid=ACCOUNT,
    )
    phone = await call.connected(timeout=30)
    arrivals = stamp_arrivals(phone)
    ep = bench.stack.endpoint
    claims = api.TokenVerifier(ep.api_key, ep.api_secret).verify(phone.start_parameters["token"])
    assert claims.video is not None
    observer = await observe(bench, claims.video.room)
    turns: list[TurnTiming] = []
    try:
        await phone.wait_for_speech(timeout=60, quiet=END_SILENCE)
        for k, utt in enumerate(questions):
            said = await phone.say(utt.audio, CALLER_RATE)
            assert said.speech_ended_at is not None
            end = said.speech_ended_at
            heard: float | None = None
            with contextlib.suppress(TimeoutError):
                heard = await phone.wait_for_sound(after=end, timeout=30)
            turn = TurnTiming("phone", index, k, utt.text, None if heard is None else heard - end)
            assert phone.started_at is not None
            turn.line_published_after = observer.caller_published_at - phone.started_at
            if heard is not None:
                await phone.wait_for_speech(timeout=60, quiet=END_SILENCE, after=heard)
                came = next((a for a in arrivals if a[1] and a[0] > end), None)
                if came is not None and came[0] <= heard:
                    turn.phone_tick_wait, turn.phone_backlog = heard - came[0], came[2]
            split(observer, turn, end, heard)
            turns.append(turn)
        await phone.hang_up()
        with contextlib.suppress(TimeoutError):
            await call.ended(timeout=30)
    finally:
        await observer.leave()
    return with_metrics(observer, turns, [s.speech_ended_at for s in phone.said[: len(turns)]])


def with_metrics(
    observer: RoomObserver, turns: list[TurnTiming], ends: list[float | None]
) -> list[TurnTiming]:
    """Each turn's agent-side stages: the telemetry received between its end of speech and the
    next one's."""
    bounds = [e if e is not None else float("inf") for e in ends] + [float("inf")]
    for i, turn in enumerate(turns):
        turn.agent_metrics = observer.inbox.between(bounds[i], bounds[i + 1])
    return turns


async def webrtc_call(bench: Bench, index: int, questions: list[Utterance]) -> list[TurnTiming]:
    async with httpx.AsyncClient(base_url=bench.api, headers=bench.headers, timeout=60) as http:
        started = await http.post(
            "/conversations", json={"agent_id": bench.agent_id, "user_id": f"bench-{index}"}
        )
        started.raise_for_status()
    d = started.json()["connection_details"]
    script = CallScript(
        turns=questions, greeting_timeout=60, reply_timeout=30, end_silence=END_SILENCE
    )
    calling = asyncio.create_task(
        join_conversation(d["websocket_url"], d["token"], d["room_name"], script)
    )
    observer: RoomObserver | None = None
    try:
        observer = await observe(bench, d["room_name"])
        report = await calling
    finally:
        if not calling.done():
            calling.cancel()
        if observer is not None:
            await observer.leave()
    assert observer is not None
    turns = []
    for k, t in enumerate(report.turns):
        heard = t.reply.started_at if t.reply else None
        turn = TurnTiming("webrtc", index, k, t.said, t.voice_to_voice)
        split(observer, turn, t.speech_end_at, heard)
        turns.append(turn)
    return with_metrics(observer, turns, [t.speech_end_at for t in report.turns])


def worker_idle(port: int, within: float = 60) -> None:
    """Wait until the worker has no job left: a call's job lingers a few seconds after its
    caller leaves, and a worker full of ending jobs refuses new ones."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/worker", timeout=5) as resp:
            if json.loads(resp.read()).get("active_jobs", 0) == 0:
                return
        time.sleep(0.25)


async def set_up(stack: Stack, api_url: str, store: str, fake_llm: bool) -> tuple[dict, str]:
    """A company with the fake Twilio account, the agent, and the number it answers."""
    company = admin(store, "create-company", "Phone Bench")
    headers = {"x-api-key": company["api_key"]}
    agent: dict[str, Any] = {
        "name": "Phone bench",
        "active": True,
        "first_message": GREETING,
        "system_prompt": "You answer callers' questions briefly, in one or two sentences.",
        "temperature": 0.0,
    }
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
        resp = await http.post(
            "/integrations/twilio", json={"account_sid": ACCOUNT, "auth_token": TWILIO_TOKEN}
        )
        resp.raise_for_status()
        if fake_llm:
            resp = await http.post("/integrations/openai", json={"api_key": OPENAI_KEY})
            resp.raise_for_status()
            agent["llm_model"] = "gpt-4o-mini"
        resp = await http.post("/voice-agents", json=agent)
        resp.raise_for_status()
        agent_id = resp.json()["id"]
        resp = await http.post("/phone-numbers", json={"number": NUMBER, "agent_id": agent_id})
        resp.raise_for_status()
    return headers, agent_id


async def run_calls(
    stack: Stack, api_url: str, store: str, args: argparse.Namespace
) -> list[TurnTiming]:
    """`args.warm_up` unmeasured rounds first: the first call of a fresh stack pays for the
    LLM server's cold prompt cache and the worker's first inferences (a 3.3 s first token,
    5.1 s voice-to-voice in a run without them), which would land on whichever path goes
    first."""
    async with FakeTwilio(accounts={ACCOUNT: TWILIO_TOKEN}, port=TWILIO_PORT) as twilio:
        headers, agent_id = await set_up(stack, api_url, store, args.llm == "fake")
        bench = Bench(stack, api_url, headers, agent_id, twilio)
        done: list[TurnTiming] = []
        for i in range(-args.warm_up, args.calls):
            asked = [QUESTIONS[(i * args.turns + k) % len(QUESTIONS)] for k in range(args.turns)]
            utterances = [Utterance(render_speech(q), q) for q in asked]
            # Which path goes first alternates, so neither always follows the other.
            for path in PATHS if i % 2 == 0 else PATHS[::-1]:
                await asyncio.get_running_loop().run_in_executor(
                    None, worker_idle, stack.config.worker_http_port
                )
                place = phone_call if path == "phone" else webrtc_call
                result = await place(bench, i, utterances)
                v2v = [ms(t.voice_to_voice) if t.voice_to_voice else "miss" for t in result]
                name = f"{i + 1}/{args.calls}" if i >= 0 else "warm-up"
                print(f"call {name} {path:>6}: voice-to-voice ms {' '.join(v2v)}", flush=True)
                if i >= 0:
                    done.extend(result)
    return done


def stats(values: list[float]) -> dict[str, Any]:
    return {
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "mean": statistics.fmean(values) if values else None,
        "n": len(values),
    }


def summarize_latency(turns: list[TurnTiming]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in PATHS:
        mine = [t for t in turns if t.path == path]
        res: dict[str, Any] = {
            "turns": len(mine),
            "missed_replies": sum(1 for t in mine if t.voice_to_voice is None),
            "voice_to_voice": stats([t.voice_to_voice for t in mine if t.voice_to_voice]),
        }
        for leg in LEGS:
            res[leg] = stats([v for t in mine if (v := getattr(t, leg)) is not None])
        for stage in STAGES:
            res[stage] = stats(
                [t.agent_metrics[s] for t in mine if (s := stage) in t.agent_metrics]
            )
        out[path] = res
    phone, webrtc = out["phone"], out["webrtc"]
    pv, wv = phone["voice_to_voice"], webrtc["voice_to_voice"]
    if pv["n"] and wv["n"]:
        out["difference"] = {k: pv[k] - wv[k] for k in ("p50", "p95", "mean")}
        out["ratio"] = {k: pv[k] / wv[k] for k in ("p50", "p95")}
        split_legs = all(phone[leg]["n"] and webrtc[leg]["n"] for leg in LEGS[:3])
        if split_legs and phone["phone_tick_wait"]["n"]:
            tick, backlog = phone["phone_tick_wait"]["mean"], phone["phone_backlog"]["mean"]
            out["where_the_difference_is"] = {
                "gateway_inbound": phone["inbound"]["mean"] - webrtc["inbound"]["mean"],
                "gateway_outbound": phone["outbound"]["mean"] - tick - webrtc["outbound"]["mean"],
                "phone_playback_backlog": backlog,
                "fake_phone_tick": tick - backlog,
                "agent_room_side": phone["room"]["mean"] - webrtc["room"]["mean"],
            }
    return out


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def latency_table(res: dict[str, Any]) -> str:
    head = f"{'metric (ms)':<34}" + "".join(f"{p + ' p50':>12}{p + ' p95':>12}" for p in PATHS)
    head += f"{'phone-webrtc mean':>19}"
    lines = [head, "-" * len(head)]
    for row in ["voice_to_voice", *LEGS, *STAGES]:
        line = f"{row:<34}"
        for path in PATHS:
            line += f"{ms(res[path][row]['p50']):>12}{ms(res[path][row]['p95']):>12}"
        means = [res[p][row]["mean"] for p in PATHS]
        diff = None if None in means else means[0] - means[1]
        lines.append(line + f"{ms(diff):>19}")
    if "difference" in res:
        d, r = res["difference"], res["ratio"]
        lines.append(
            f"\nphone - webrtc voice-to-voice: p50 {ms(d['p50'])} ms, p95 {ms(d['p95'])} ms, "
            f"mean {ms(d['mean'])} ms; ratio phone/webrtc p50 {r['p50']:.2f}, p95 {r['p95']:.2f}"
        )
    if "where_the_difference_is" in res:
        w = res["where_the_difference_is"]
        lines.append(
            "of the mean difference: gateway inbound "
            f"{ms(w['gateway_inbound'])} ms, gateway outbound {ms(w['gateway_outbound'])} ms, "
            f"audio queued ahead at the phone {ms(w['phone_playback_backlog'])} ms, "
            f"the fake phone's 20 ms tick {ms(w['fake_phone_tick'])} ms, "
            f"the agent's own side {ms(w['agent_room_side'])} ms"
        )
    for path in PATHS:
        lines.append(
            f"{path}: {res[path]['turns']} turns, {res[path]['missed_replies']} missed replies"
        )
    return "\n".join(lines)


def speech_end_offsets(questions: list[str]) -> dict[str, float]:
    """Per question, where the phone's end of speech (last 20 ms mu-law frame over the fake's
    threshold) lies after the WebRTC caller's (last 10 ms frame over -45 dBFS), in seconds of
    audio: the two paths start their clocks by slightly different rules."""
    out: dict[str, float] = {}
    for q in questions:
        utt = Utterance(render_speech(q), q)
        frames = ulaw_frames(to_ulaw(utt.audio, CALLER_RATE))
        last = max(i for i, f in enumerate(frames) if audible(frame_rms(f)))
        out[q] = (last + 1) * 0.02 - utt.speech_bounds()[1]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_latency(args: argparse.Namespace) -> dict[str, Any]:
    fake_llm = args.llm == "fake"
    log_dir = ROOT / ".cache/logs/bench-phone"
    provider_env = {
        "PROVIDER_KEYS_SECRET": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
        "TWILIO_BASE_URL": f"http://127.0.0.1:{TWILIO_PORT}",
    }
    with contextlib.ExitStack() as cleanup, tempfile.TemporaryDirectory() as tmp:
        if fake_llm:
            port = free_port()
            fake = fake_openai_process(
                port,
                log_dir / "fake-openai.log",
                *("--ttft-ms", str(args.ttft_ms), "--token-ms", str(args.token_ms)),
                *("--always-reply", FAKE_REPLY, "--api-key", OPENAI_KEY),
            )
            cleanup.callback(fake.stop)
            provider_env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        store = f"sqlite+aiosqlite:///{tmp}/phone-bench.db"
        subprocess.run(
            [sys.executable, "-m", "control_plane", "migrate"],
            env={**os.environ, "DATABASE_URL": store},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        config = StackConfig(
            livekit_port=LIVEKIT_PORT,
            livekit_udp_port=LIVEKIT_UDP_PORT,
            llm_port=LLM_PORT,
            worker_http_port=WORKER_HTTP_PORT,
            agent_name=AGENT_NAME,
            log_dir=log_dir,
            worker_env={"DATABASE_URL": store, **provider_env},
        )
        started = time.time()
        with Stack(config) as stack:
            processes: list[ManagedProcess] = []
            try:
                processes.append(
                    gateway_process(
                        GATEWAY_PORT,
                        livekit_url=config.livekit_url,
                        log_path=log_dir / "phone-gateway.log",
                    )
                )
                api_url = f"http://127.0.0.1:{CONTROL_PLANE_PORT}"
                processes.append(
                    control_plane_process(
                        CONTROL_PLANE_PORT,
                        database_url=store,
                        log_path=log_dir / "control-plane.log",
                        env={
                            "LIVEKIT_URL": config.livekit_url,
                            "LIVEKIT_API_KEY": stack.key,
                            "LIVEKIT_API_SECRET": stack.secret,
                            "VOICE_AGENT_NAME": AGENT_NAME,
                            "PUBLIC_URL": api_url,
                            "TELEPHONY_GATEWAY_URL": f"ws://127.0.0.1:{GATEWAY_PORT}/twilio/media",
                            **provider_env,
                        },
                    )
                )
                turns = asyncio.run(run_calls(stack, api_url, store, args))
            finally:
                for process in reversed(processes):
                    process.stop()
    results = summarize_latency(turns)
    print()
    print(latency_table(results))
    asked = sorted({t.said for t in turns})
    return {
        "started_at": started,
        "seconds": time.time() - started,
        "llm": (
            {"model": "fake OpenAI gpt-4o-mini", "ttft_ms": args.ttft_ms, "token_ms": args.token_ms}
            if fake_llm
            else {"model": "embedded SmolLM2-135M (llama.cpp server)"}
        ),
        "calls_per_path": args.calls,
        "warm_up_calls_per_path": args.warm_up,
        "turns_per_call": args.turns,
        "results": results,
        "speech_end_offset_phone_minus_webrtc": speech_end_offsets(asked),
        "turns": [asdict(t) for t in turns],
    }


# --- STT: 8 kHz mu-law against 16 kHz --------------------------------------------------------

CORPUS: dict[str, list[str]] = {
    "numbers": [
        "My order number is 4 7 2 9.",
        "Please call me back at 5 5 5, 0 1 9 8.",
        "I need 3 tickets for Saturday.",
        "The total came to 46 dollars.",
        "We have 12 people in our group.",
        "My date of birth is March 14, 1987.",
        "The meeting is at 3:30 in the afternoon.",
        "Can I pay 250 dollars today?",
        "My account ends in 8 8 0 4.",
        "There are 7 days left on my plan.",
    ],
    "names": [
        "My name is Sarah Johnson.",
        "Can I speak to doctor Patel, please?",
        "This is Michael from the accounts team.",
        "I'm calling for Emily Rodriguez.",
        "Please put me through to James Anderson.",
        "The booking is under the name Thompson.",
        "Is Maria Garcia available today?",
        "My manager is David Kim.",
        "I spoke with Jennifer yesterday.",
        "Tell Robert that Lisa called.",
    ],
    "addresses": [
        "I live at 42 Elm Street.",
        "Send it to 1600 Pennsylvania Avenue.",
        "The office is on Park Road, near the station.",
        "My zip code is 9 0 2 1 0.",
        "Deliver it to 17 Oak Lane, apartment 5.",
        "We moved to 308 Maple Drive last month.",
        "The shop is at 11 High Street in Oxford.",
        "My address is 75 River Road, Springfield.",
        "Is there a branch on Main Street?",
        "Ship it to 250 Lake Shore Drive in Chicago.",
    ],
    "commands": [
        "Cancel my appointment.",
        "Transfer me to a real person.",
        "Yes, please go ahead.",
        "No, that's not right.",
        "Repeat that, please.",
        "Book a table for 4 at 7.",
        "Stop the order.",
        "Change my delivery date.",
        "Check my balance.",
        "Send me a text with the details.",
    ],
    "questions": [
        "What time do you open tomorrow?",
        "How much does the large pizza cost?",
        "Do you deliver on Sundays?",
        "Where is my package?",
        "Can I change my password?",
        "Is the pharmacy open on weekends?",
        "How long will the repair take?",
        "What is the status of my refund?",
    ],
}
ESPEAK_VOICES = ("en-us", "en-gb", "en-us+f3")
PIPER = "piper"
LEAD_S, TAIL_S = 0.3, 0.15
"""The agent's segmenter hands Whisper 0.3 s before the speech (its prefix padding) and ends
the segment 0.15 s after it (`stt_silence_duration`)."""
PRE_EMPHASIS = 0.7


_UNITS = {
    w: i
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
    )
}  # fmt: skip
_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_SPELLING = {"ok": "okay", "mr": "mister", "dr": "doctor"}


def _numbers_to_digits(words: list[str]) -> list[str]:
    """Runs of number words as the numbers they say ("forty two" -> "42"); a units word after
    another units word starts a new number ("four seven" -> "4", "7")."""
    out: list[str] = []
    total = current = 0
    last: str | None = None  # kind of the previous number word; None: not in a number

    def flush() -> None:
        nonlocal total, current, last
        if last is not None:
            out.append(str(total + current))
        total = current = 0
        last = None

    for i, w in enumerate(words):
        if w in _UNITS or w in _ORDINALS:
            value = _UNITS.get(w, _ORDINALS.get(w, 0))
            if last in ("unit", "ten") and not (last == "ten" and value < 10):
                flush()
            current += value
            last = "unit" if value < 20 else "ten"
        elif w in _TENS:
            if last in ("unit", "ten"):
                flush()
            current += _TENS[w]
            last = "ten"
        elif w in _SCALES and last is not None:
            if w == "hundred":
                current = (current or 1) * 100
            else:
                total += (current or 1) * _SCALES[w]
                current = 0
            last = "scale"
        elif w == "and" and last == "scale" and i + 1 < len(words) and _is_number(words[i + 1]):
            continue
        else:
            flush()
            out.append(w)
    flush()
    return out


def _is_number(word: str) -> bool:
    return word in _UNITS or word in _TENS or word in _ORDINALS


def normalize(text: str) -> list[str]:
    """The words of `text`, compared alike in the reference and the transcript: lower case, no
    punctuation, numbers as digits whether spelled or written ("forty-two", "42"), ordinals as
    their number ("14th", "fourteenth" -> "14"), "$46" as "46 dollars", and a run of numbers
    joined into one ("4 7 2 9", "four seven two nine" and "4729" are all "4729"; "3:30" and
    "three thirty" are "330"), since a reader may group spoken digits either way."""
    t = text.lower()
    t = re.sub(r"\$(\d+)", r"\1 dollars", t)
    t = t.replace("%", " percent").replace("&", " and ")
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    t = re.sub(r"\b([ap])\.m\.", r"\1m", t)
    t = t.replace("'", "")
    words = [_SPELLING.get(w, w) for w in re.sub(r"[^a-z0-9]+", " ", t).split()]
    words = " ".join(words).split()
    merged: list[str] = []
    for w in _numbers_to_digits(words):
        if w.isdigit() and merged and merged[-1].isdigit():
            merged[-1] += w
        else:
            merged.append(w)
    return merged


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Substitutions + deletions + insertions (word-level edit distance)."""
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def rtc_resample(samples: np.ndarray, src: int, dst: int, quality: Any = None) -> np.ndarray:
    """livekit's resampler, as the gateway (8 k -> 48 k) and the worker's audio input
    (48 k -> 16 k) run it."""
    quality = rtc.AudioResamplerQuality.MEDIUM if quality is None else quality
    resampler = rtc.AudioResampler(src, dst, quality=quality)
    frame = rtc.AudioFrame(samples.astype(np.int16).tobytes(), src, 1, len(samples))
    out = [*resampler.push(frame), *resampler.flush()]
    return np.concatenate([np.frombuffer(f.data, np.int16) for f in out])


def phone_line(
    samples: np.ndarray, rate: int, gateway_quality: Any = None, *, ulaw: bool = True
) -> np.ndarray:
    """What the worker's STT gets of a phone caller: the fake phone's resampling to 8 kHz and
    mu-law, the gateway's decode, 8 k -> 48 k, the worker's 48 k -> 16 k (Opus in the room is
    left out: the WebRTC path has it too). The gateway publishes the line's 8 kHz and WebRTC's
    send path upsamples it with its sinc resampler, modelled here by soxr's `VERY_HIGH`;
    `gateway_quality` is the resampler of a gateway that would publish at 48 kHz. `ulaw` False
    keeps the band and drops mu-law."""
    line = resample(samples, rate, 8000)
    if ulaw:
        line = ulaw_decode(ulaw_encode(line))
    quality = rtc.AudioResamplerQuality.VERY_HIGH if gateway_quality is None else gateway_quality
    return rtc_resample(rtc_resample(line, 8000, 48000, quality), 48000, 16000)


def phone_line_ffmpeg(samples: np.ndarray, rate: int) -> np.ndarray:
    """The phone's 8 kHz mu-law brought to 16 kHz in one step by FFmpeg's resampler (as
    `shared.audio.resample` does) instead of livekit's two."""
    return resample(ulaw_decode(ulaw_encode(resample(samples, rate, 8000))), 8000, 16000)


def pre_emphasis(samples: np.ndarray, alpha: float = PRE_EMPHASIS) -> np.ndarray:
    """y[n] = x[n] - alpha x[n-1], level kept: lifts what is left of the consonants (2-4 kHz)
    against the vowels, the opposite of what the phone band took."""
    x = samples.astype(np.float64)
    y = np.concatenate([x[:1], x[1:] - alpha * x[:-1]])
    peak = np.max(np.abs(y)) or 1.0
    gain = min(np.max(np.abs(x)) / peak, 32767 / peak)
    return (y * gain).astype(np.int16)


@dataclass(frozen=True)
class Condition:
    """One way of getting the corpus to Whisper: the audio path, and how Whisper decodes."""

    name: str
    audio: Callable[[np.ndarray, int], np.ndarray]
    beam_size: int = 1
    full_window: bool = False


CONDITIONS = [
    Condition("16k", lambda x, r: resample(x, r, 16000)),
    Condition("phone", phone_line),
    Condition("8k_no_ulaw", lambda x, r: phone_line(x, r, ulaw=False)),
    Condition("ulaw_at_16k", lambda x, r: ulaw_decode(ulaw_encode(resample(x, r, 16000)))),
    Condition(
        "phone_resampler_medium",
        lambda x, r: phone_line(x, r, rtc.AudioResamplerQuality.MEDIUM),
    ),
    Condition(
        "phone_resampler_quick",
        lambda x, r: phone_line(x, r, rtc.AudioResamplerQuality.QUICK),
    ),
    Condition("phone_ffmpeg_to_16k", phone_line_ffmpeg),
    Condition("phone_pre_emphasis", lambda x, r: pre_emphasis(phone_line(x, r))),
    Condition("16k_beam5", lambda x, r: resample(x, r, 16000), beam_size=5),
    Condition("phone_beam5", phone_line, beam_size=5),
    Condition("16k_full_window", lambda x, r: resample(x, r, 16000), full_window=True),
    Condition("phone_full_window", phone_line, full_window=True),
]
"""`16k` is a WebRTC call and `phone` a phone call as the agent decodes them; `8k_no_ulaw` and
`ulaw_at_16k` take the phone's two losses one at a time; the rest are what might help."""


def speakers() -> Iterator[tuple[str, str, str, np.ndarray, int]]:
    """(voice, category, sentence, int16 audio, rate) for every sentence in every voice."""
    from pipelines import PiperTTSOptions, PiperVoiceHandle

    piper = PiperVoiceHandle()
    for category, sentences in CORPUS.items():
        for sentence in sentences:
            for voice in ESPEAK_VOICES:
                yield voice, category, sentence, synthesize(sentence, voice), ESPEAK_RATE
            pcm = b"".join(piper.synthesize_chunks(sentence, PiperTTSOptions()))
            yield PIPER, category, sentence, np.frombuffer(pcm, np.int16), piper.sample_rate


def run_stt(conditions: list[Condition]) -> dict[str, Any]:
    from pipelines import WhisperModelHandle

    started = time.time()
    short = WhisperModelHandle(None, cpu_threads=2)
    full = WhisperModelHandle(None, cpu_threads=2, short_window=False)
    short.warm_up()
    lead, tail = (
        np.zeros(round(LEAD_S * 16000), np.int16),
        np.zeros(round(TAIL_S * 16000), np.int16),
    )
    rows: list[dict[str, Any]] = []
    for voice, category, sentence, pcm, rate in speakers():
        ref = normalize(sentence)
        for cond in conditions:
            audio16k = np.concatenate([lead, cond.audio(pcm, rate), tail])
            handle = full if cond.full_window else short
            t0 = time.perf_counter()
            text = handle.transcribe(
                audio16k.astype(np.float32) / 32768.0, language="en", beam_size=cond.beam_size
            )
            seconds = time.perf_counter() - t0
            hyp = normalize(text)
            rows.append(
                {
                    "condition": cond.name,
                    "voice": voice,
                    "category": category,
                    "sentence": sentence,
                    "transcript": text,
                    "words": len(ref),
                    "errors": word_errors(ref, hyp),
                    "decode_seconds": seconds,
                }
            )
        print(f"{voice:>9} {sentence}", flush=True)
    return {
        "started_at": started,
        "seconds": time.time() - started,
        "model": str(short.path),
        "sentences": sum(len(s) for s in CORPUS.values()),
        "voices": [*ESPEAK_VOICES, PIPER],
        "summary": summarize_stt(rows, conditions),
        "rows": rows,
    }


def wer(rows: list[dict[str, Any]]) -> float:
    return sum(r["errors"] for r in rows) / max(1, sum(r["words"] for r in rows))


def summarize_stt(rows: list[dict[str, Any]], conditions: list[Condition]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cond in conditions:
        mine = [r for r in rows if r["condition"] == cond.name]
        out[cond.name] = {
            "wer": wer(mine),
            "sentences_wrong": sum(1 for r in mine if r["errors"]) / max(1, len(mine)),
            "by_voice": {
                v: wer([r for r in mine if r["voice"] == v]) for v in (*ESPEAK_VOICES, PIPER)
            },
            "by_category": {c: wer([r for r in mine if r["category"] == c]) for c in CORPUS},
            "decode_ms_p50": 1000 * (percentile([r["decode_seconds"] for r in mine], 0.5) or 0),
        }
    return out


def stt_table(summary: dict[str, Any]) -> str:
    voices = [*ESPEAK_VOICES, PIPER]
    head = (
        f"{'condition':<26}{'WER':>7}{'wrong':>7}"
        + "".join(f"{v:>10}" for v in voices)
        + "".join(f"{c[:8]:>10}" for c in CORPUS)
        + f"{'decode ms':>11}"
    )
    lines = [head, "-" * len(head)]
    for name, s in summary.items():
        lines.append(
            f"{name:<26}{100 * s['wer']:>6.1f}%{100 * s['sentences_wrong']:>6.0f}%"
            + "".join(f"{100 * s['by_voice'][v]:>9.1f}%" for v in voices)
            + "".join(f"{100 * s['by_category'][c]:>9.1f}%" for c in CORPUS)
            + f"{s['decode_ms_p50']:>11.0f}"
        )
    if {"16k", "phone"} <= summary.keys() and summary["16k"]["wer"]:
        wide, phone = summary["16k"]["wer"], summary["phone"]["wer"]
        lines.append(
            f"\nphone/16k WER: {phone / wide:.2f}x ({100 * (phone - wide):+.1f} points); "
            "WER = (substitutions + deletions + insertions) / reference words, all sentences"
        )
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4, help="calls per path")
    parser.add_argument("--turns", type=int, default=4, help="questions per call")
    parser.add_argument("--warm-up", type=int, default=1, help="unmeasured calls per path first")
    parser.add_argument("--llm", choices=["embedded", "fake"], default="embedded")
    parser.add_argument("--ttft-ms", type=float, default=200.0, help="fake LLM: first token")
    parser.add_argument("--token-ms", type=float, default=10.0, help="fake LLM: per token")
    parser.add_argument("--stt-only", action="store_true", help="the WER part alone (no rooms)")
    parser.add_argument("--latency-only", action="store_true", help="the calls alone")
    parser.add_argument(
        "--conditions",
        default=",".join(c.name for c in CONDITIONS),
        help="STT conditions, comma list",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.stt_only and args.latency_only:
        parser.error("--stt-only and --latency-only exclude each other")
    known = {c.name: c for c in CONDITIONS}
    unknown = [c for c in args.conditions.split(",") if c not in known]
    if unknown:
        parser.error(f"unknown conditions: {', '.join(unknown)}")
    part = "_stt" if args.stt_only else "_latency" if args.latency_only else ""
    suffix = "_fake_llm" if args.llm == "fake" and not args.stt_only else ""
    out = args.out or ROOT / f"benchmarks/results/phone{part}{suffix}.json"

    payload: dict[str, Any] = {
        "benchmark": "phone",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
    }
    if not args.stt_only:
        payload["latency"] = run_latency(args)
    if not args.latency_only:
        stt = run_stt([known[c] for c in args.conditions.split(",")])
        print()
        print(stt_table(stt["summary"]))
        payload["stt"] = stt
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
