"""The in-room run: barge-ins and backchannels over the agent's reply in a real room.

`--in-room` starts livekit-server and our worker on their own ports (`ROOM_PORTS`, clear of the
test suite and `make run`) and a fake OpenAI server that answers every question with the same
paragraph (about 20 s of the local Piper voice) and anything said over it with one short line.
For each agent configuration (turn VAD x hold x `min_interruption_duration`, sent inline in the
dispatch metadata), a simulated caller asks a question per turn and, `--after` seconds into the
reply as it hears it, says a clean corpus clip over it: a `plain` sentence (barge-in) or a
`backchannel` clip (word, cough or click; the same clips for every configuration). Clips are
cut to their sound, so the interjection's onset is the ground-truth speech start. Times are
the caller's: frame send times and agent audio arrival times, as in `simulator.caller`.

- stop: interjection onset -> the first 0.5 s without agent sound (`STOP_QUIET`); a barge-in
  the agent does not stop for within `--stop-timeout` is missed.
- each interjection's outcome: not stopped; paused then resumed (the agent's audio came back
  and no request reached the model: a hiccup); or the reply lost (the agent stopped and did not
  resume, or answered what it heard: a false interruption for a backchannel, the wanted
  outcome for a barge-in). "answered" counts model requests made after the onset, with the
  caller's words as transcribed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Literal, TypedDict

from agent.contract import AgentConfig, TurnDetection
from benchmarks.turns.common import load_clips, write_results
from benchmarks.turns.corpus import ensure_corpus
from benchmarks.turns.room_call import room_call
from benchmarks.turns.room_report import room_report, summarize_room
from benchmarks.turns.room_trials import LONG_REPLY, ScriptedModel, Trial, plan_trials
from fake_providers.openai import FakeOpenAI
from simulator.caller import STOP_QUIET
from simulator.stack import Stack, StackConfig

ROOT = Path(__file__).resolve().parents[2]


class StackPorts(TypedDict):
    """The ports of a `StackConfig`."""

    livekit_port: int
    livekit_udp_port: int
    llm_port: int
    worker_http_port: int


RoomVad = Literal["webrtc", "silero"]
"""The turn VADs an agent can be given (`TurnDetection.vad`)."""

ROOM_PORTS: StackPorts = {
    "livekit_port": 9080,
    "livekit_udp_port": 9082,
    "llm_port": 9188,
    "worker_http_port": 9181,
}
"""Clear of the test suite (7980/8188/8181) and `make run` (7880/8088/8081)."""
ROOM_AGENT = "turn-taking-bench"
ROOM_VADS: tuple[RoomVad, ...] = ("webrtc", "silero")
ROOM_HOLDS = (0.3, 0.6)
ROOM_MIN_INTERRUPTIONS = (0.2, 0.5)
ROOM_TRIALS = 6
TURNS_PER_CALL = 6
INTERJECT_AFTER = 2.5
"""Seconds into the agent's reply, as the caller hears it, at which the interjection starts."""
STOP_TIMEOUT = 3.0
"""A stop later than this after the onset is no stop (the reply runs ~17 s past the onset)."""
OPENAI_KEY = "sk-bench-turn-taking-0001"
LLM_MODEL = "gpt-4o-mini"


async def worker_idle(port: int, within: float = 60.0) -> None:
    """Wait until the worker runs no call (a finished call's job lingers a few seconds)."""

    def active() -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/worker", timeout=5) as resp:
                # protobuf JSON leaves out a count of 0
                return int(json.loads(resp.read()).get("active_jobs", 0))
        except (OSError, ValueError):
            return None

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(active) == 0:
            return
        await asyncio.sleep(0.5)


def room_agent(
    vad_name: RoomVad, hold: float, min_interruption: float, duck: float = 0.0
) -> AgentConfig:
    """The agent under test: the local voice and STT, the fake model (the deployment's OpenAI
    endpoint), the turn settings."""
    return AgentConfig(
        name="Turn-taking benchmark",
        first_message="Hello.",
        llm_model=LLM_MODEL,
        max_completion_tokens=400,
        voice_id="local:en_US-joe-medium",
        turn_detection=TurnDetection(
            vad=vad_name,
            min_silence_duration=hold,
            min_interruption_duration=min_interruption,
            duck_duration=duck,
            timeout=60,
            end_call_on_silence=600,
        ),
    )


async def room_run(
    stack: Stack,
    model: ScriptedModel,
    settings: list[tuple[RoomVad, float, float, float]],
    trials: list[Trial],
    *,
    turns_per_call: int,
    after: float,
    stop_timeout: float,
) -> list[dict[str, Any]]:
    """Every configuration over the same trials, `turns_per_call` turns per call."""
    rows = []
    for vad_name, hold, minimum, duck in settings:
        started = time.perf_counter()
        agent = room_agent(vad_name, hold, minimum, duck)
        print(
            f"  {vad_name} hold {hold:g} s, min interruption {minimum:g} s, duck {duck:g} s",
            file=sys.stderr,
        )
        records: list[dict[str, Any]] = []
        for i in range(0, len(trials), turns_per_call):
            await worker_idle(stack.config.worker_http_port)
            batch = trials[i : i + turns_per_call]
            records += await room_call(
                stack, agent, batch, model, after=after, stop_timeout=stop_timeout
            )
        elapsed = time.perf_counter() - started
        print(f"  ... {elapsed:.0f} s", file=sys.stderr)
        rows.append(
            {
                "vad": vad_name,
                "hold_s": hold,
                "min_interruption_s": minimum,
                "duck_s": duck,
                "false_interruption_timeout_s": agent.turn_detection.false_interruption_timeout,
                **summarize_room(records),
                "elapsed_s": elapsed,
                "trials": records,
            }
        )
    return rows


def main_room(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """`--in-room`: every configuration through livekit-server and the worker."""
    known: dict[str, RoomVad] = {name: name for name in ROOM_VADS}
    names = args.vads.split(",") if args.vads else list(ROOM_VADS)
    if unknown := [n for n in names if n not in known]:
        parser.error(
            f"unknown in-room VAD {', '.join(unknown)}; choose from {', '.join(ROOM_VADS)}"
        )
    holds = args.holds or ROOM_HOLDS
    minimums = args.min_interruptions or ROOM_MIN_INTERRUPTIONS
    ducks = args.ducks or [TurnDetection().duck_duration]
    settings = [(known[n], h, m, d) for n in names for h in holds for m in minimums for d in ducks]
    out = args.out or ROOT / "benchmarks/results/turn_taking_room.json"

    started = time.perf_counter()
    manifest = ensure_corpus(args.corpus)
    trials = plan_trials(load_clips(args.corpus, manifest, True), args.trials, args.seed)
    model = ScriptedModel()
    # The fake answers every call; the embedded LLM (only the model's fallback) stays off.
    with FakeOpenAI(api_keys=[OPENAI_KEY], replies=model) as fake:
        assert fake.base_url is not None
        config = StackConfig(
            **ROOM_PORTS,
            agent_name=ROOM_AGENT,
            log_dir=ROOT / ".cache/logs/bench-turn-taking",
            worker_env={"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": fake.base_url},
        )
        with Stack(config, llm=False) as stack:
            rows = asyncio.run(
                room_run(
                    stack,
                    model,
                    settings,
                    trials,
                    turns_per_call=args.turns_per_call,
                    after=args.after,
                    stop_timeout=args.stop_timeout,
                )
            )
    elapsed = time.perf_counter() - started

    print(
        f"{len(settings)} configurations x ({args.trials} barge-ins + {args.trials} "
        f"backchannels), {args.turns_per_call} turns per call, interjections {args.after:g} s "
        f"into a {len(LONG_REPLY.split())}-word reply, {elapsed:.0f} s"
    )
    print()
    print(room_report(rows))
    write_results(
        out,
        {
            "benchmark": "turn_taking_room",
            "corpus": {"dir": str(args.corpus), "version": manifest["version"]},
            "clips": {
                kind: [t.spoken.clip.id for t in trials if t.kind == kind]
                for kind in ("barge_in", "backchannel")
            },
            "trials_per_kind": args.trials,
            "turns_per_call": args.turns_per_call,
            "interject_after_s": args.after,
            "stop_quiet_s": STOP_QUIET,
            "stop_timeout_s": args.stop_timeout,
            "llm_model": LLM_MODEL,
            "reply": LONG_REPLY,
            "elapsed_s": elapsed,
            "rows": rows,
        },
    )
