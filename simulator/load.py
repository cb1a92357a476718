"""Load tests: many simulated callers at once, each in its own room with its own agent.

    python -m simulator load --calls 8 --turns 6                # fixed load
    python -m simulator load --capacity --start 4 --step 4      # raise N until callers notice
    python -m simulator load --soak --calls 8 --duration 1800   # memory over a long run

The command starts its own stack on private ports (livekit-server, the worker and, with
`--providers network`, the fake OpenAI and ElevenLabs servers as separate processes with the
configured latencies; with `--providers local`, the embedded LLM server), then runs the
callers. Each caller dispatches an agent into a new room (the agent's config is inline in the
dispatch), waits for the greeting and speaks its turns: questions in espeak-ng's voice (or
`--wav-dir` files), every `--barge-in-every`-th one followed by a barge-in over the reply.

Everything is measured at the caller, as in `simulator.caller`: voice-to-voice per turn
(caller's last word sent -> agent audio received), barge-in stop, missed replies (no agent
audio within `--reply-timeout`), join times and dropped calls (the agent never answered, left
early, or the call failed). CPU and RSS of each process tree are sampled throughout. Ctrl-C
stops the callers after their current turn and still writes the report (JSON, markdown, PNGs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypedDict

import aiohttp

from agent.contract import AgentConfig, TurnDetection
from livekit_patches import ffi_routing

from .audio import read_wav
from .caller import CallScript, Interjection, LiveKitEndpoint, TurnResult, Utterance, place_call
from .load_report import (
    capacity,
    format_progress,
    summarize_steps,
    write_comparison,
    write_report,
)
from .procstats import ProcessSampler
from .speech import render_speech
from .stack import (
    ROOT,
    ManagedProcess,
    Stack,
    StackConfig,
    StackError,
    ensure_port_free,
    http_ok,
)


class LoadPorts(TypedDict):
    """The private ports of a load test's stack (`StackConfig` fields)."""

    livekit_port: int
    livekit_udp_port: int
    llm_port: int
    worker_http_port: int


LOAD_PORTS: LoadPorts = {
    "livekit_port": 9380,
    "livekit_udp_port": 9382,
    "llm_port": 9388,
    "worker_http_port": 9381,
}
"""Clear of `make run` (78xx/80xx), the test suite and the other benchmarks."""
FAKE_PORTS = {"fake-openai": 9391, "fake-elevenlabs": 9392}
LOAD_AGENT = "load-agent"
PROVIDER_KEY = "sk-load-test-0001"
ELEVENLABS_VOICE = "EXAVITQu4vr4xnSDxMaL"

Runtime = Literal["ours", "livekit-agents", "pipecat", "bare"]
RUNTIMES: tuple[Runtime, ...] = ("ours", "livekit-agents", "pipecat", "bare")
PEERS = ROOT / "benchmarks/peers"
STOCK_HOLD_S = 0.55
"""Stock livekit-agents' turn wait: Silero's `min_silence_duration` (0.55 s); the session's
default endpointing delay (0.5 s) runs from the last speech, inside that silence."""

QUESTIONS = [
    "Hi, I would like to book a table for two tonight.",
    "Do you have anything around seven o'clock?",
    "Can we sit by the window, please?",
    "Is there parking near the restaurant?",
    "Great. Please send me a confirmation by text message.",
]
BARGE_IN = "Sorry, wait, can you make it three people instead?"
REPLY = (
    "Of course. I have a table for you at seven tonight, by the window. "
    "Is there anything else I can help you with today?"
)
"""What the fake LLM answers every time: about 6 s of speech, long enough to barge in."""
TRANSCRIPT = "I would like to book a table for two tonight."


@dataclass
class Providers:
    """Where STT, LLM and TTS come from, and the latencies the fakes add."""

    kind: Literal["network", "local"] = "network"
    stt_ms: float = 150.0
    ttft_ms: float = 300.0
    token_ms: float = 10.0
    ttfb_ms: float = 150.0
    reply: str = REPLY
    """What the fake LLM answers every turn."""

    @property
    def latency_ms(self) -> float:
        """What the providers alone add to a turn (STT final, LLM first token, TTS first
        audio); 0 for the local engines, whose cost is the runtime's to measure."""
        return self.stt_ms + self.ttft_ms + self.ttfb_ms if self.kind == "network" else 0.0


@dataclass
class LoadPlan:
    mode: Literal["fixed", "capacity", "soak"] = "fixed"
    calls: int = 4
    turns: int | None = 6
    """Turns per call; None: until `duration` (or the step) ends."""
    call_turns: int | None = None
    """Hang up after this many turns and dial again, until the run ends (a soak that tells
    growth across calls from growth within one)."""
    duration: float | None = None
    ramp: float = 0.5
    """Seconds between two callers' starts."""
    barge_in_every: int = 4
    barge_in_after: float = 1.5
    reply_timeout: float = 15.0
    greeting_timeout: float = 30.0
    # capacity search
    start: int = 4
    step: int = 4
    max_calls: int = 64
    step_seconds: float = 60.0
    settle_seconds: float = 10.0
    budget_ms: float | None = None
    baseline_budget: bool = False
    """Budget each step against the first one: its p95 plus `margin_ms` (a runtime whose own
    hold and providers already miss the absolute budget still gets a capacity: the calls it
    holds before its callers notice a change)."""
    margin_ms: float = 100.0
    # what the agents run
    providers: Providers = field(default_factory=Providers)
    vad: Literal["webrtc", "silero"] = "webrtc"
    hold: float = 0.6
    profile: Literal["tuned", "stock"] = "tuned"
    executor: Literal["thread", "process"] = "thread"
    input_frame_ms: int = 20
    caller_frame_ms: int = 20
    """The simulated callers' frames, both ways (their share of the machine's CPU)."""
    event_routing: bool = True
    """livekit's audio events handed straight to their call, in the callers' process and
    our worker (`agent_worker.ffi_routing`); False: the SDK's delivery to every subscriber."""
    wav_dir: Path | None = None
    runtime: Runtime = "ours"
    """Whose agents answer: this runtime's worker, or a peer (stock livekit-agents as its
    quickstart configures it, or Pipecat), with the same providers; peers need network ones.
    "bare" is the media floor: livekit's SDK alone hearing and answering with a fixed reply
    after the hold and the providers' latency, no session and no providers
    (`benchmarks/peers/bare_sdk.py`)."""

    def agent(self) -> AgentConfig:
        td = TurnDetection(vad=self.vad, min_silence_duration=self.hold)
        if self.providers.kind == "local":
            return AgentConfig(turn_detection=td)
        return AgentConfig(
            turn_detection=td,
            stt_provider="openai",
            llm_model="gpt-4o-mini",
            voice_id=ELEVENLABS_VOICE,
        )

    def hold_ms(self) -> float:
        """The configured wait before the agent may answer after the caller's last word.

        livekit-agents counts the endpointing delay from the last speech, so it overlaps the
        VAD's silence hold: the wait is the longer of the two.
        """
        if self.runtime == "livekit-agents":
            return 1000 * STOCK_HOLD_S
        if self.runtime == "pipecat":
            return 1000 * PIPECAT_HOLD_S
        if self.runtime == "bare":
            return 1000 * self.hold
        td = self.agent().turn_detection
        return 1000 * max(td.min_silence_duration, td.min_endpointing_delay)

    @property
    def budget_from_baseline(self) -> bool:
        """Whether the budget comes from the first step: asked for, or the embedded engines,
        whose own latency has no configured figure to add to the hold."""
        return self.budget_ms is None and (self.baseline_budget or self.providers.kind == "local")

    def default_budget_ms(self) -> float | None:
        """The target: p95 voice-to-voice within 100 ms of hold + provider latencies (None
        until the first step is measured, when `budget_from_baseline`)."""
        if self.budget_ms is not None:
            return self.budget_ms
        if self.budget_from_baseline:
            return None
        return self.hold_ms() + self.providers.latency_ms + self.margin_ms


class LoadRun:
    """The callers, what they measured, and when to stop."""

    def __init__(self, plan: LoadPlan, endpoint: LiveKitEndpoint, utterances: list[Utterance]):
        self.plan = plan
        self.endpoint = endpoint
        self.utterances = utterances
        self.barge_in = Interjection(
            render_speech(BARGE_IN), after=plan.barge_in_after, text=BARGE_IN, expect_answer=True
        )
        self.metadata = plan.agent().to_metadata()
        self.t0 = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.calls: list[dict[str, Any]] = []
        self.turns: list[dict[str, Any]] = []
        self.up = 0
        self.target = 0
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.lines = 0
        """Callers started (each places one call, or one after another with `call_turns`)."""
        self.budget_ms = plan.default_budget_ms()
        self.interrupted = False
        """Stopped with Ctrl-C (or SIGTERM): a comparison goes no further."""
        self.summon: Callable[[str], Awaitable[None]] | None = None
        """How a peer without LiveKit agent dispatch is brought into a caller's room."""

    def now(self) -> float:
        return time.monotonic() - self.t0

    def dropped(self) -> int:
        return sum(1 for c in self.calls if c["dropped"])

    def feed(self, index: int, until: Callable[[], bool]) -> Iterator[Utterance]:
        """The caller's turns: questions in turn, some with a barge-in over the reply."""
        n = 0
        every = self.plan.barge_in_every
        limit = self.plan.call_turns or self.plan.turns
        while not until() and (limit is None or n < limit):
            utt = self.utterances[(index + n) % len(self.utterances)]
            if every and n % every == every - 1:
                utt = Utterance(utt.audio, utt.text, interjection=self.barge_in)
            yield utt
            n += 1

    def record(self, call: dict[str, Any], result: TurnResult) -> None:
        call["turns_done"] += 1
        self.turns.append(
            {
                "call": call["call"],
                "turn": call["turns_done"],
                "t": result.speech_end_at - self.t0,
                "concurrent": self.up,
                "voice_to_voice": result.voice_to_voice,
                "barge_in": result.interjected_at is not None,
                "barge_in_stop": result.barge_in_stop,
                "barge_in_pause": result.barge_in_pause,
                "missed": result.reply is None,
            }
        )

    async def line(self, until: Callable[[], bool]) -> None:
        """One caller's line: one call, or with `call_turns`, calls of that many turns, each
        hung up and replaced by the next until the run ends."""
        self.lines += 1
        while True:
            await self.caller(len(self.calls), until)
            if self.plan.call_turns is None or until() or self.stopping.is_set():
                return

    async def caller(self, index: int, until: Callable[[], bool]) -> None:
        call: dict[str, Any] = {
            "call": index,
            "room": None,
            "join_time": None,
            "agent_join_time": None,
            "dropped": False,
            "error": None,
            "turns_done": 0,
            "started_at": self.now(),
            "ended_at": None,
        }
        self.calls.append(call)
        self.up += 1
        script = CallScript(
            turns=self.feed(index, lambda: until() or self.stopping.is_set()),
            agent_name=LOAD_AGENT,
            metadata=self.metadata,
            greeting_timeout=self.plan.greeting_timeout,
            reply_timeout=self.plan.reply_timeout,
            keep_audio=False,  # timing only: a soak must not grow with the audio heard
            on_turn=lambda result: self.record(call, result),
            summon=self.summon,
            frame_ms=self.plan.caller_frame_ms,
        )
        try:
            report = await place_call(self.endpoint, script)
            call.update(
                room=report.room,
                join_time=report.join_time,
                agent_join_time=report.agent_join_time,
            )
            # The agent's own breakdown of each turn (its metrics, received on the data
            # channel), known once the call is over.
            mine = [t for t in self.turns if t["call"] == index]
            for entry, result in zip(mine, report.turns, strict=False):
                entry["agent_metrics"] = result.agent_metrics
            if not report.greeting_heard:
                call.update(dropped=True, error="the agent never answered")
            elif report.agent_left_at is not None:
                call.update(dropped=True, error="the agent left during the call")
        except asyncio.CancelledError:
            call.update(error="stopped")
            raise
        except Exception as exc:  # one failed call is a result, not the end of the test
            call.update(dropped=True, error=f"{type(exc).__name__}: {exc}")
        finally:
            self.up -= 1
            call["ended_at"] = self.now()

    def spawn(self, until: Callable[[], bool]) -> None:
        task = asyncio.create_task(self.line(until), name=f"line-{self.lines}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def ramp_to(self, n: int, until: Callable[[], bool]) -> None:
        """Start callers, `ramp` seconds apart, until `n` are up."""
        self.target = n
        while self.lines < n and not self.stopping.is_set():
            self.spawn(until)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.plan.ramp)

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def drain(self, grace: float) -> None:
        """Let callers finish their current turn; cancel what is left after `grace`."""
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def progress(self, out: Any = sys.stdout) -> None:
        while True:
            line = format_progress(self.now(), self.up, self.target, self.turns, self.dropped())
            print(f"\r{line}", end="", file=out, flush=True)
            await asyncio.sleep(1.0)


async def run_fixed(run: LoadRun) -> list[dict[str, float]]:
    plan = run.plan
    deadline = None if plan.duration is None else run.t0 + plan.duration

    def over() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    await run.ramp_to(plan.calls, over)
    ramped = run.now()
    waiting: asyncio.Future[Any] = asyncio.gather(*run.tasks)
    stop: asyncio.Future[Any] = asyncio.ensure_future(run.stopping.wait())
    await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    await run.drain(plan.reply_timeout + 10)
    return [{"concurrent": plan.calls, "since": ramped, "until": run.now()}]


async def run_capacity(run: LoadRun) -> list[dict[str, float]]:
    """Add callers step by step; each step is measured after it settles, and the search stops
    at the first step over budget, with dropped calls, or at `max_calls`."""
    plan = run.plan
    run.budget_ms = plan.default_budget_ms()
    steps: list[dict[str, float]] = []
    n = plan.start
    while n <= plan.max_calls and not run.stopping.is_set():
        await run.ramp_to(n, lambda: False)
        await run.wait(plan.settle_seconds)
        since = run.now()
        await run.wait(plan.step_seconds)
        steps.append({"concurrent": n, "since": since, "until": run.now()})
        report = report_dict(run, steps, None)
        measured = summarize_steps(report)
        p95 = measured[-1].get("voice_to_voice_p95_ms")
        if run.budget_ms is None and p95 is not None:  # the first step sets the baseline
            run.budget_ms = p95 + plan.margin_ms
            report["budget_ms"] = run.budget_ms
        verdict = capacity(report, measured)["steps"][-1]
        p95_text = "-" if p95 is None else f"{p95:.0f}"
        budget_text = "-" if run.budget_ms is None else f"{run.budget_ms:.0f}"
        print(
            f"\n  step {n} calls: p95 {p95_text} ms (budget {budget_text} ms): "
            + ("passed" if verdict["passed"] else "; ".join(verdict["why"])),
            flush=True,
        )
        if not verdict["passed"]:
            break
        n += plan.step
    run.stopping.set()
    await run.drain(plan.reply_timeout + 10)
    return steps


def report_dict(
    run: LoadRun, steps: list[dict[str, float]], sampler: ProcessSampler | None
) -> dict[str, Any]:
    plan = run.plan
    config = asdict(plan)
    config["wav_dir"] = str(plan.wav_dir) if plan.wav_dir else None
    config.update(
        cpu_count=os.cpu_count(),
        worker_process="worker",
        hold_ms=plan.hold_ms(),
        provider_latency_ms=plan.providers.latency_ms,
        command=" ".join(sys.argv),
    )
    return {
        "mode": plan.mode,
        "started_at": run.started_at,
        "config": config,
        "budget_ms": run.budget_ms,
        "baseline_margin_ms": plan.margin_ms if plan.budget_from_baseline else None,
        "interrupted": run.interrupted,
        "calls": run.calls,
        "turns": run.turns,
        "steps": steps,
        "processes": sampler.samples() if sampler else {},
        "marks": sampler.marks if sampler else [],
    }


def load_utterances(wav_dir: Path | None) -> list[Utterance]:
    if wav_dir is None:
        return [Utterance(render_speech(q), q) for q in QUESTIONS]
    files = sorted(wav_dir.glob("*.wav"))
    if not files:
        raise StackError(f"no .wav files in {wav_dir}")
    return [Utterance(read_wav(f), f.stem) for f in files]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_fakes(
    stack: Stack, providers: Providers, log_dir: Path, ports: dict[str, int]
) -> dict[str, str]:
    """The fake OpenAI (STT, LLM) and ElevenLabs (TTS) servers, each its own process; the
    worker environment that points at them."""
    py = sys.executable
    openai_port, elevenlabs_port = ports["fake-openai"], ports["fake-elevenlabs"]
    fakes = {
        "fake-openai": (
            openai_port,
            [py, "-m", "fake_providers.openai", "--port", str(openai_port)]
            + ["--ttft-ms", str(providers.ttft_ms), "--token-ms", str(providers.token_ms)]
            + ["--stt-ms", str(providers.stt_ms), "--fixed-transcript", TRANSCRIPT]
            + ["--always-reply", providers.reply, "--api-key", PROVIDER_KEY],
        ),
        "fake-elevenlabs": (
            elevenlabs_port,
            [py, "-m", "fake_providers.elevenlabs", "--port", str(elevenlabs_port)]
            + ["--tts-ttfb-ms", str(providers.ttfb_ms), "--valid-key", PROVIDER_KEY],
        ),
    }
    for name, (port, cmd) in fakes.items():
        if _port_open(port):
            raise StackError(f"port {port} for the {name} server is in use")
        proc = ManagedProcess(name, cmd, log_dir / f"{name}.log", dict(os.environ))
        proc.start()
        stack.processes[name] = proc
        proc.wait_until(partial(_port_open, port), 60, f"the {name} server did not start")
    return {
        "OPENAI_API_KEY": PROVIDER_KEY,
        "ELEVENLABS_API_KEY": PROVIDER_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{openai_port}/v1",
        "ELEVENLABS_BASE_URL": f"http://127.0.0.1:{elevenlabs_port}/v1",
    }


def start_agents(
    stack: Stack, plan: LoadPlan, env: dict[str, str]
) -> tuple[ManagedProcess, Callable[[str], Awaitable[None]] | None]:
    """Start whatever answers the calls of `plan.runtime`, as the process named "worker";
    with how to bring it into a room when LiveKit's agent dispatch does not."""
    if plan.runtime == "ours":
        return stack.start_worker(env=env), None
    if plan.runtime == "livekit-agents":
        peer = {
            **env,
            "LIVEKIT_AGENT_NAME": LOAD_AGENT,
            "ELEVEN_API_KEY": env["ELEVENLABS_API_KEY"],
            "ELEVENLABS_VOICE_ID": ELEVENLABS_VOICE,
        }
        argv = [sys.executable, str(PEERS / "livekit_quickstart.py"), "start"]
        return stack.start_worker(env=peer, argv=argv), None
    if plan.runtime == "bare":
        bare = {
            **env,
            "BARE_HOLD_S": str(plan.hold),
            "BARE_PROVIDER_MS": str(plan.providers.latency_ms),
            "BARE_REPLY": plan.providers.reply,
            "EVENT_ROUTING": str(plan.event_routing).lower(),
        }
        argv = [sys.executable, str(PEERS / "bare_sdk.py"), "start"]
        return stack.start_worker(env=bare, argv=argv), None
    return start_pipecat(stack, env)


PIPECAT_HOLD_S = 0.2
"""Pipecat's turn wait as it ships: Silero's `stop_secs` (0.2 s), after which its smart-turn
model judges the turn (its inference time on top; 3 s more when it judges the speech
unfinished)."""
PIPECAT = PEERS / "pipecat"
PIPECAT_PYTHON = ROOT / ".cache/peers/pipecat-venv/bin/python"


def start_pipecat(
    stack: Stack, env: dict[str, str], port: int | None = None, log_level: str = "INFO"
) -> tuple[ManagedProcess, Callable[[str], Awaitable[None]]]:
    """The Pipecat peer (installed into its own venv on first use) as the process "worker",
    and how to summon one of its bots into a room (`POST /calls`)."""
    subprocess.run([str(PIPECAT / "setup.sh")], check=True)
    port = port or stack.config.worker_http_port
    ensure_port_free(port, "the Pipecat peer", "WORKER_HTTP_PORT")
    cmd = [str(PIPECAT_PYTHON), str(PIPECAT / "agent.py"), "--port", str(port)]
    cmd += ["--livekit-url", stack.config.livekit_url]
    cmd += ["--api-key", stack.key, "--api-secret", stack.secret]
    cmd += ["--openai-base-url", env["OPENAI_BASE_URL"]]
    cmd += ["--elevenlabs-base-url", env["ELEVENLABS_BASE_URL"]]
    cmd += ["--provider-key", env["OPENAI_API_KEY"], "--voice-id", ELEVENLABS_VOICE]
    cmd += ["--log-level", log_level]
    log = stack.config.log_dir / f"pipecat-{stack.config.livekit_port}.log"
    peer = ManagedProcess("worker", cmd, log, dict(os.environ))
    peer.start()
    stack.processes["worker"] = peer
    url = f"http://127.0.0.1:{port}"
    peer.wait_until(lambda: http_ok(f"{url}/health"), 120, "the Pipecat peer did not start")

    async def summon(room: str) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/calls", json={"room": room}) as resp,
        ):
            if resp.status != 202:
                raise StackError(f"the Pipecat peer answered {resp.status}: {await resp.text()}")

    return peer, summon


def worker_env(plan: LoadPlan) -> dict[str, str]:
    return {
        # the worker accepts every call of the test; its own limit is what is being measured
        "WORKER_MAX_CALLS": str(max(plan.calls, plan.max_calls) + 8),
        "WORKER_EXECUTOR": plan.executor,
        "WORKER_PROFILE": plan.profile,
        "INPUT_FRAME_MS": str(plan.input_frame_ms),
        "EVENT_ROUTING": str(plan.event_routing).lower(),
    }


async def drive(run: LoadRun, sampler: ProcessSampler) -> list[dict[str, float]]:
    loop = asyncio.get_running_loop()
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        run.interrupted = True
        run.stopping.set()
        print("\nstopping after the current turns (Ctrl-C again to cancel them) ...", flush=True)
        if presses > 1:
            for task in list(run.tasks):
                task.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, interrupt)
    progress = asyncio.create_task(run.progress())
    try:
        if run.plan.mode == "capacity":
            steps = await run_capacity(run)
        else:
            steps = await run_fixed(run)
    finally:
        progress.cancel()
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _terminate)  # the stack must still be stopped
    sampler.mark("end")
    print(flush=True)
    return steps


def run_load(
    plan: LoadPlan,
    out_dir: Path,
    ports: LoadPorts | None = None,
    fake_ports: dict[str, int] | None = None,
) -> dict[str, Path]:
    """Start the stack, run the plan, write the report; the paths written."""
    ports = ports or LOAD_PORTS
    log_dir = ROOT / ".cache/logs/load"
    local = plan.providers.kind == "local"
    env = worker_env(plan)
    config = StackConfig(**ports, agent_name=LOAD_AGENT, log_dir=log_dir, worker_env=env)
    stack = Stack(config, llm=local, worker=False)
    utterances = load_utterances(plan.wav_dir)
    with stack:
        if not local:
            env.update(start_fakes(stack, plan.providers, log_dir, fake_ports or FAKE_PORTS))
        worker, summon = start_agents(stack, plan, env)
        roots = {name: p.proc.pid for name, p in stack.processes.items() if p.proc}
        roots["simulator"] = os.getpid()
        print(f"stack up (logs in {log_dir}); {describe(plan)}", flush=True)
        assert worker.proc is not None
        if plan.event_routing:
            ffi_routing.install()
        with ProcessSampler(roots, interval=1.0) as sampler:
            run = LoadRun(plan, stack.endpoint, utterances)
            run.summon = summon
            steps: list[dict[str, float]] = []
            try:
                steps = asyncio.run(drive(run, sampler))
            finally:
                report = report_dict(run, steps, sampler)
                paths = write_report(report, out_dir)
    return paths


def describe(plan: LoadPlan) -> str:
    p = plan.providers
    providers = (
        f"network providers (fake STT {p.stt_ms:g} ms, LLM TTFT {p.ttft_ms:g} ms, "
        f"TTS TTFB {p.ttfb_ms:g} ms)"
        if p.kind == "network"
        else "the embedded engines"
    )
    if plan.mode == "capacity":
        what = f"capacity search from {plan.start} calls, +{plan.step} per step"
    elif plan.duration is not None:
        what = f"{plan.calls} calls for {plan.duration:g} s"
    else:
        what = f"{plan.calls} calls of {plan.turns} turns"
    if plan.runtime != "ours":
        return f"{what}, {providers}, {plan.runtime} as it ships (hold {plan.hold_ms():.0f} ms)"
    return f"{what}, {providers}, {plan.vad} VAD hold {plan.hold:g} s, {plan.profile} profile"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--capacity", action="store_true", help="raise N until callers notice")
    mode.add_argument("--soak", action="store_true", help="hold --calls for --duration seconds")
    parser.add_argument("--calls", type=int, default=4, help="concurrent calls (fixed, soak)")
    parser.add_argument("--turns", type=int, default=6, help="turns per call (0: until the end)")
    parser.add_argument("--duration", type=float, help="seconds (instead of a number of turns)")
    parser.add_argument(
        "--redial-after",
        type=int,
        metavar="TURNS",
        help="with --duration: each caller hangs up after TURNS turns and calls again",
    )
    parser.add_argument("--ramp", type=float, default=0.5, help="seconds between call starts")
    parser.add_argument("--barge-in-every", type=int, default=4, help="0: no barge-ins")
    parser.add_argument("--reply-timeout", type=float, default=15.0)
    parser.add_argument("--start", type=int, default=4, help="capacity: first step's calls")
    parser.add_argument("--step", type=int, default=4, help="capacity: calls added per step")
    parser.add_argument("--max-calls", type=int, default=64, help="capacity: last step")
    parser.add_argument("--step-seconds", type=float, default=60.0)
    parser.add_argument("--settle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--budget-ms", type=float, help="p95 budget (default: hold + providers + 100 ms)"
    )
    parser.add_argument(
        "--baseline-budget",
        action="store_true",
        help="budget: the first step's p95 + 100 ms (the default with --compare and with "
        "--providers local)",
    )
    parser.add_argument("--providers", choices=["network", "local"], default="network")
    parser.add_argument("--stt-ms", type=float, default=150.0)
    parser.add_argument("--ttft-ms", type=float, default=300.0)
    parser.add_argument("--token-ms", type=float, default=10.0)
    parser.add_argument("--ttfb-ms", type=float, default=150.0)
    parser.add_argument("--vad", choices=["webrtc", "silero"], default="webrtc")
    parser.add_argument("--hold", type=float, default=0.6, help="VAD hold, seconds")
    parser.add_argument("--profile", choices=["tuned", "stock"], default="tuned")
    parser.add_argument("--executor", choices=["thread", "process"], default="thread")
    parser.add_argument("--input-frame-ms", type=int, default=20, help="the worker's frames")
    parser.add_argument(
        "--caller-frame-ms", type=int, choices=[10, 20], default=20, help="the callers' frames"
    )
    parser.add_argument(
        "--sdk-event-fanout",
        action="store_true",
        help="leave livekit's event delivery as the SDK has it (each event to every call)",
    )
    parser.add_argument("--wav-dir", type=Path, help="caller utterances as .wav files")
    parser.add_argument(
        "--runtime", choices=RUNTIMES, default="ours", help="whose agents answer the calls"
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        choices=RUNTIMES,
        metavar="RUNTIME",
        help="run the same plan for each runtime in turn, then report ratios against the first",
    )
    parser.add_argument("--out", type=Path, help="report directory (default .cache/load/<time>)")


def plan_from(args: argparse.Namespace) -> LoadPlan:
    mode: Literal["fixed", "capacity", "soak"] = (
        "capacity" if args.capacity else "soak" if args.soak else "fixed"
    )
    # a number of turns per call, unless the run is bounded by time (or by the search)
    turns = None if args.duration is not None or mode != "fixed" else args.turns or None
    if mode == "soak" and args.duration is None:
        raise StackError("--soak needs --duration (seconds)")
    if args.redial_after and args.duration is None:
        raise StackError("--redial-after needs --duration (seconds)")
    peers = {args.runtime, *(args.compare or [])} - {"ours"}
    if peers and args.providers != "network":
        raise StackError(f"{', '.join(sorted(peers))} run with network providers only")
    return LoadPlan(
        mode=mode,
        calls=args.calls,
        turns=turns,
        call_turns=args.redial_after,
        duration=args.duration,
        ramp=args.ramp,
        barge_in_every=args.barge_in_every,
        reply_timeout=args.reply_timeout,
        start=args.start,
        step=args.step,
        max_calls=args.max_calls,
        step_seconds=args.step_seconds,
        settle_seconds=args.settle_seconds,
        budget_ms=args.budget_ms,
        baseline_budget=args.baseline_budget or bool(args.compare),
        providers=Providers(
            kind=args.providers,
            stt_ms=args.stt_ms,
            ttft_ms=args.ttft_ms,
            token_ms=args.token_ms,
            ttfb_ms=args.ttfb_ms,
        ),
        vad=args.vad,
        hold=args.hold,
        profile=args.profile,
        executor=args.executor,
        input_frame_ms=args.input_frame_ms,
        caller_frame_ms=args.caller_frame_ms,
        event_routing=not args.sdk_event_fanout,
        wav_dir=args.wav_dir,
        runtime=args.runtime,
    )


def run_compare(
    plan: LoadPlan,
    runtimes: list[Runtime],
    out_dir: Path,
    ports: LoadPorts | None = None,
    fake_ports: dict[str, int] | None = None,
) -> dict[str, Path]:
    """The same plan for each runtime in turn, each on a fresh stack; then the side-by-side
    figures and the ratios against the first runtime (compare.json, compare.md)."""
    runs: dict[str, dict[str, Any]] = {}
    for runtime in runtimes:
        print(f"\n=== {runtime} ===", flush=True)
        paths = run_load(replace(plan, runtime=runtime), out_dir / runtime, ports, fake_ports)
        runs[runtime] = json.loads(paths["report.json"].read_text())
        if runs[runtime]["interrupted"]:
            print(f"stopped during {runtime}: the comparison goes no further", flush=True)
            break
    return write_comparison(runs, out_dir, plan_line=describe(replace(plan, runtime="ours")))


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through `with stack`, which stops what it started


def cmd_load(args: argparse.Namespace) -> None:
    signal.signal(signal.SIGTERM, _terminate)  # while the callers run, `drive` handles it
    plan = plan_from(args)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    kind = "compare" if args.compare else plan.mode
    out = args.out or ROOT / ".cache/load" / f"{kind}-{stamp}"
    if args.compare:
        paths = run_compare(plan, list(dict.fromkeys(args.compare)), out)
        print(paths["compare.md"].read_text())
    else:
        paths = run_load(plan, out)
        if "summary.md" in paths:
            print(paths["summary.md"].read_text())
    print(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))


__all__ = [
    "LoadPlan",
    "LoadRun",
    "Providers",
    "add_arguments",
    "cmd_load",
    "run_compare",
    "run_load",
]
