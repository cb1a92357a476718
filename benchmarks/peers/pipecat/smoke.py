"""Self-check of the Pipecat peer: one call through the real stack, measured by our caller.

    .venv/bin/python benchmarks/peers/pipecat/smoke.py [--transcribe]

Starts livekit-server, the fake OpenAI and ElevenLabs servers (with the load test's latencies,
fixed transcript and fixed reply) and the peer (installing its venv first if needed), all on
ports 9600-9699; then a simulated caller joins a new room, asks the peer for a bot with
`POST /calls`, waits for the greeting and says three things, barging in over the third reply.
Prints what it measured and exits non-zero if the greeting, a reply or the barge-in stop is
missing, or if the bot stays in the room after the caller hangs up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
from livekit import api

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from simulator.caller import (  # noqa: E402
    CallReport,
    CallScript,
    Interjection,
    LiveKitEndpoint,
    Utterance,
    join_conversation,
)
from simulator.load import BARGE_IN, ELEVENLABS_VOICE, Providers, start_fakes  # noqa: E402
from simulator.speech import render_speech  # noqa: E402
from simulator.stack import (  # noqa: E402
    ManagedProcess,
    Stack,
    StackConfig,
    StackError,
    http_ok,
)

HERE = Path(__file__).resolve().parent
PEER_PYTHON = ROOT / ".cache/peers/pipecat-venv/bin/python"
LOG_DIR = ROOT / ".cache/logs/pipecat-smoke"
PORTS = {"livekit": 9600, "livekit_udp": 9602, "peer": 9601}
FAKE_PORTS = {"fake-openai": 9611, "fake-elevenlabs": 9612}
TURNS = [
    "Hi, I would like to book a table for two tonight.",
    "Do you have anything around seven o'clock?",
    "Can we sit by the window, please?",
]
BARGE_IN_AFTER = 1.5
"""Seconds into the third reply at which the caller cuts in."""


@dataclass
class CallOutcome:
    report: CallReport
    bot_left_after: float | None
    """Seconds from the caller hanging up to the bot leaving the room (None: it stayed)."""


def start_peer(stack: Stack, fake_env: dict[str, str], log_level: str) -> ManagedProcess:
    """Install the peer's venv if needed, start the peer and wait for its health check."""
    subprocess.run([str(HERE / "setup.sh")], check=True)
    port = PORTS["peer"]
    if http_ok(f"http://127.0.0.1:{port}/health"):
        raise StackError(f"port {port}, the peer's, is in use: stop what answers there")
    cmd = [
        str(PEER_PYTHON),
        str(HERE / "agent.py"),
        "--port",
        str(port),
        "--livekit-url",
        stack.config.livekit_url,
        "--api-key",
        stack.key,
        "--api-secret",
        stack.secret,
        "--openai-base-url",
        fake_env["OPENAI_BASE_URL"],
        "--elevenlabs-base-url",
        fake_env["ELEVENLABS_BASE_URL"],
        "--provider-key",
        fake_env["OPENAI_API_KEY"],
        "--voice-id",
        ELEVENLABS_VOICE,
        "--log-level",
        log_level,
    ]
    peer = ManagedProcess("pipecat-peer", cmd, LOG_DIR / "pipecat-peer.log", dict(os.environ))
    peer.start()
    stack.processes["pipecat-peer"] = peer
    peer.wait_until(
        lambda: http_ok(f"http://127.0.0.1:{port}/health"), 120, "the peer did not answer"
    )
    return peer


def script() -> CallScript:
    barge_in = Interjection(
        render_speech(BARGE_IN), after=BARGE_IN_AFTER, text=BARGE_IN, expect_answer=True
    )
    turns = [Utterance(render_speech(text), text) for text in TURNS]
    turns[-1].interjection = barge_in
    return CallScript(turns=turns, greeting_timeout=30.0, reply_timeout=15.0)


async def agents_in(lkapi: api.LiveKitAPI, room: str) -> list[str]:
    resp = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    agent = api.ParticipantInfo.Kind.AGENT
    return [p.identity for p in resp.participants if p.kind == agent]


async def place_call(endpoint: LiveKitEndpoint, peer_url: str) -> CallOutcome:
    """Room and caller token made here, the bot summoned with `POST /calls`, then the call."""
    room = f"pipecat-smoke-{uuid.uuid4().hex[:8]}"
    token = (
        api.AccessToken(endpoint.api_key, endpoint.api_secret)
        .with_identity(f"caller-{uuid.uuid4().hex[:6]}")
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )
    async with api.LiveKitAPI(endpoint.http_url, endpoint.api_key, endpoint.api_secret) as lkapi:
        await lkapi.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=30))
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{peer_url}/calls", json={"room": room}) as resp,
            ):
                if resp.status != 202:
                    raise StackError(f"POST /calls answered {resp.status}: {await resp.text()}")
            report = await join_conversation(endpoint.url, token, room, script())
            hung_up = time.monotonic()
            left_after = None
            while time.monotonic() - hung_up < 15:
                if not await agents_in(lkapi, room):
                    left_after = time.monotonic() - hung_up
                    break
                await asyncio.sleep(0.1)
            return CallOutcome(report, left_after)
        finally:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def print_outcome(outcome: CallOutcome) -> list[str]:
    """Print the call; the problems found (empty: all good)."""
    report = outcome.report
    problems: list[str] = []
    print(f"room {report.room}: caller joined in {ms(report.join_time)}")
    if report.greeting is not None:
        g = report.greeting
        said = f' "{g.transcript}"' if g.transcript else ""
        print(
            f"  greeting heard{said}: {g.duration:.1f} s of speech, first audio "
            f"{ms(report.agent_join_time)} after the caller started joining"
        )
    else:
        print("  greeting: NOT HEARD")
        problems.append("no greeting")
    for i, turn in enumerate(report.turns, 1):
        line = f"  turn {i}: voice-to-voice {ms(turn.voice_to_voice)}  ({turn.said})"
        if turn.reply is None:
            problems.append(f"turn {i}: no reply")
        elif turn.reply.transcript:
            line += f'\n          agent: "{turn.reply.transcript}"'
        print(line)
        if i == len(TURNS):  # the barge-in turn
            answered = (
                ms(turn.answer.started_at - turn.interjected_at)
                if turn.answer and turn.interjected_at
                else "-"
            )
            print(
                f"          barge-in {BARGE_IN_AFTER:g} s into the reply: agent audio stopped "
                f"{ms(turn.barge_in_stop)} after the caller cut in; answer began {answered} "
                "after the cut-in started"
            )
            if turn.barge_in_stop is None:
                problems.append(f"turn {i}: the agent did not stop on barge-in")
            if turn.answer is None:
                problems.append(f"turn {i}: the barge-in was not answered")
    if report.agent_left_at is not None:
        problems.append("the bot left during the call")
    if outcome.bot_left_after is None:
        problems.append("the bot stayed in the room after the caller hung up")
    print(f"  bot left the room {ms(outcome.bot_left_after)} after the caller hung up")
    return problems


async def transcribe(report: CallReport) -> None:
    from simulator.transcribe import HeardTranscriber

    await HeardTranscriber(cpu_threads=1).fill(report)


async def main_async(args: argparse.Namespace) -> int:
    config = StackConfig(
        livekit_port=PORTS["livekit"],
        livekit_udp_port=PORTS["livekit_udp"],
        log_dir=LOG_DIR,
    )
    stack = Stack(config, llm=False, worker=False)
    with stack:
        fake_env = start_fakes(stack, Providers(), LOG_DIR, FAKE_PORTS)
        peer = start_peer(stack, fake_env, args.peer_log_level)
        assert peer.proc is not None
        idle_rss = rss_mb(peer.proc.pid)
        print(f"stack up on ports 9600-9612 (logs in {LOG_DIR}); peer idle RSS {idle_rss:.0f} MB")
        peak = [idle_rss]

        async def sample_rss() -> None:
            while True:
                peak[0] = max(peak[0], rss_mb(pid))
                await asyncio.sleep(0.25)

        pid = peer.proc.pid
        sampler = asyncio.create_task(sample_rss())
        try:
            outcome = await place_call(stack.endpoint, f"http://127.0.0.1:{PORTS['peer']}")
        finally:
            sampler.cancel()
        await asyncio.sleep(1.0)  # let the ended call's resources go before measuring
        after_rss = rss_mb(pid)
        if args.transcribe:
            await transcribe(outcome.report)
        problems = print_outcome(outcome)
        print(
            f"  peer RSS: {idle_rss:.0f} MB idle, {peak[0]:.0f} MB peak during the call, "
            f"{after_rss:.0f} MB after it"
        )
    for problem in problems:
        print(f"FAILED: {problem}")
    if not problems:
        print("OK")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--transcribe", action="store_true", help="transcribe what was heard (local Whisper)"
    )
    parser.add_argument("--peer-log-level", default="INFO", help="the peer's log level")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
