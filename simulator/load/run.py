"""Running a load test: the callers, each turn they measure, the steps of a fixed run or of
a capacity search, and the run as the report's input."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ..caller import CallScript, Interjection, LiveKitEndpoint, TurnResult, Utterance, place_call
from ..load_report import capacity, format_progress, summarize_steps
from ..procstats import ProcessSampler
from ..speech import render_speech
from .phone import PhoneLines
from .plan import BARGE_IN, LOAD_AGENT, LoadPlan


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
        self.phone: PhoneLines | None = None
        """Where the callers dial, when they call over the phone (`--phone`)."""

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
                "barge_in_backoff": result.barge_in_backoff,
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
            if self.phone is not None:
                report = await self.phone.call(script, index)
            else:
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


IN_FLIGHT_S = 3.0
"""How long a step's verdict waits for the replies to turns its callers finished saying
before it ended (a reply slower than this fails the step anyway)."""
STEP_EXTENSION_S = 5.0
"""How much longer a capacity step runs at a time while it lacks turns."""


def measured_turns(run: LoadRun, since: float) -> int:
    """Turns measured voice-to-voice since `since` (seconds of the run)."""
    return sum(1 for t in run.turns if t["voice_to_voice"] is not None and t["t"] >= since)


async def run_capacity(run: LoadRun) -> list[dict[str, float]]:
    """Add callers step by step; each step is measured after it settles, for `step_seconds`
    and until it has `min_step_turns` turns (at most `max_step_seconds`), and the search stops
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
        while (
            run.now() - since < plan.max_step_seconds
            and not run.stopping.is_set()
            and measured_turns(run, since) < plan.min_step_turns
        ):
            await run.wait(STEP_EXTENSION_S)
        steps.append({"concurrent": n, "since": since, "until": run.now()})
        # the turns already spoken in the window are judged with it: their replies come in
        # before the verdict, as they are in the final report
        await run.wait(IN_FLIGHT_S)
        report = report_dict(run, steps, None)
        measured = summarize_steps(report)
        p95 = measured[-1].get("voice_to_voice_p95_ms")
        spread = measured[-1].get("voice_to_voice_p95_spread_ms")
        if run.budget_ms is None and p95 is not None:  # the first step sets the baseline
            run.budget_ms = p95 + plan.margin_ms
            report["budget_ms"] = run.budget_ms
        verdict = capacity(report, measured)["steps"][-1]
        p95_text = "-" if p95 is None else f"{p95:.0f}"
        budget_text = "-" if run.budget_ms is None else f"{run.budget_ms:.0f}"
        spread_text = "" if not spread else f" [{spread[0]:.0f}-{spread[1]:.0f}]"
        print(
            f"\n  step {n} calls, {measured[-1]['voice_to_voice_n']} turns: p95 {p95_text}"
            f"{spread_text} ms (budget {budget_text} ms): "
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
    processes = sampler.samples() if sampler else {}
    names = plan.worker_names()
    if len(names) > 1 and processes:
        processes["worker"] = summed_series([processes.get(name, []) for name in names])
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
        "processes": processes,
        "marks": sampler.marks if sampler else [],
    }


def summed_series(series: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Several process trees' samples as one series (several workers as "the worker"): CPU,
    RSS and process counts added up per sampling moment (the sampler takes every tree's
    sample of a tick at the same `t`)."""
    totals: dict[float, dict[str, Any]] = {}
    for samples in series:
        for sample in samples:
            total = totals.setdefault(
                sample["t"], {"t": sample["t"], "cpu_percent": 0.0, "rss_bytes": 0, "processes": 0}
            )
            total["cpu_percent"] = round(total["cpu_percent"] + sample["cpu_percent"], 1)
            total["rss_bytes"] += sample["rss_bytes"]
            total["processes"] += sample["processes"]
    return [totals[t] for t in sorted(totals)]


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through `with stack`, which stops what it started


async def drive(run: LoadRun, sampler: ProcessSampler) -> list[dict[str, float]]:
    """Run the plan's steps; Ctrl-C (or SIGTERM) stops the callers after their current turn,
    a second one cancels them. The steps measured."""
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
    if run.phone is not None:
        await run.phone.open(run.plan)
    try:
        if run.plan.mode == "capacity":
            steps = await run_capacity(run)
        else:
            steps = await run_fixed(run)
    finally:
        progress.cancel()
        if run.phone is not None:
            await run.phone.aclose()
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _terminate)  # the stack must still be stopped
    sampler.mark("end")
    print(flush=True)
    return steps
