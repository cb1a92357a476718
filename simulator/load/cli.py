"""`python -m simulator load`: its arguments, the plan they make, and running it (or the
same plan for several runtimes) on a stack of its own."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from livekit_patches import ffi_routing

from ..load_report import write_comparison, write_report
from ..procstats import ProcessSampler
from ..stack import ROOT, Stack, StackConfig, StackError
from .phone import PhoneLines, phone_env, start_phone_services
from .plan import (
    FAKE_PORTS,
    LOAD_AGENT,
    LOAD_PORTS,
    PRODUCT_TURNS,
    RUNTIMES,
    LoadPlan,
    LoadPorts,
    Providers,
    Runtime,
    describe,
    load_utterances,
)
from .run import LoadRun, _terminate, drive, report_dict
from .runtimes import assign_workers, start_agents, start_fakes, worker_env


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
    data_dir = out_dir / "phone-store"
    if plan.phone:
        data_dir.mkdir(parents=True, exist_ok=True)
        env.update(phone_env(data_dir))
    with stack:
        if not local:
            env.update(start_fakes(stack, plan.providers, log_dir, fake_ports or FAKE_PORTS))
        workers, summon = start_agents(stack, plan, env)
        phone_api = start_phone_services(stack, data_dir, log_dir) if plan.phone else None
        roots = {name: p.proc.pid for name, p in stack.processes.items() if p.proc}
        roots["simulator"] = os.getpid()
        print(f"stack up (logs in {log_dir}); {describe(plan)}", flush=True)
        if plan.event_routing:
            ffi_routing.install()
        with ProcessSampler(roots, interval=1.0) as sampler:
            run = LoadRun(plan, stack.endpoint, utterances)
            run.summon = summon
            if phone_api is not None:
                run.phone = PhoneLines(phone_api, phone_env(data_dir)["DATABASE_URL"])
            steps: list[dict[str, float]] = []
            try:
                steps = asyncio.run(drive(run, sampler))
            finally:
                taken = assign_workers(run.calls, workers) if len(workers) > 1 else None
                report = report_dict(run, steps, sampler)
                if taken is not None:
                    report["calls_per_worker"] = taken
                paths = write_report(report, out_dir)
    return paths


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
        "--min-step-turns",
        type=int,
        default=40,
        help="capacity: a step goes on until this many turns are measured (p95's spread is "
        "reported with it)",
    )
    parser.add_argument(
        "--max-step-seconds", type=float, default=300.0, help="capacity: the longest step"
    )
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
    parser.add_argument(
        "--vad",
        choices=["webrtc", "silero"],
        default=PRODUCT_TURNS.vad,
        help="the agents' turn VAD (default: the product's, %(default)s)",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=PRODUCT_TURNS.min_silence_duration,
        help="VAD hold, seconds (default: the product's, %(default)s)",
    )
    parser.add_argument("--executor", choices=["thread", "process"], default="thread")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="our worker processes under the one agent name (LiveKit's dispatch spreads the "
        "calls; their CPU and RSS are summed as the worker's)",
    )
    parser.add_argument(
        "--worker-max-calls",
        type=int,
        help="each worker's WORKER_MAX_CALLS (default: more than the test places); LiveKit "
        "picks a worker at random weighted by 1 - active calls / this",
    )
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
        "--phone",
        action="store_true",
        help="callers dial a number through a fake Twilio and the phone gateway (ours only)",
    )
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
    if args.workers < 1:
        raise StackError("--workers needs at least 1")
    if args.worker_max_calls is not None and args.worker_max_calls < 1:
        raise StackError("--worker-max-calls needs at least 1")
    if args.phone and peers:
        raise StackError("--phone calls our agents only (the peers have no phone gateway)")
    if peers and args.workers > 1:
        raise StackError("--workers runs our worker only; the peers run one process each")
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
        min_step_turns=args.min_step_turns,
        max_step_seconds=args.max_step_seconds,
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
        executor=args.executor,
        input_frame_ms=args.input_frame_ms,
        caller_frame_ms=args.caller_frame_ms,
        event_routing=not args.sdk_event_fanout,
        wav_dir=args.wav_dir,
        workers=args.workers,
        worker_max_calls=args.worker_max_calls,
        runtime=args.runtime,
        phone=args.phone,
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
