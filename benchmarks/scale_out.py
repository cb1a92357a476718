"""Scale-out across worker processes: the same load steps on one worker and on two.

Each repetition runs the load tester's steps (`simulator.load`, its own stack: livekit-server,
the fake cloud providers or the embedded LLM server, the workers, the simulated callers) once
with one worker and once with two workers registered under the same agent name, so that
LiveKit's own dispatch spreads the calls between them. Repetitions are interleaved (1 2, 2 1,
1 2, ...) so that a machine busy with other work weighs on both alike. Every step up to
`--max-calls` is measured, past the first one over budget, so that both runs have figures at
the same loads; the capacity is then the load tester's verdict over those steps (the largest
load within budget below every load that is not; a dropped call still ends the run).

Prints, per run, the capacity (calls within the latency budget) and each step's figures; then
the ratios two workers / one worker per pair of runs (median and range): capacity, worker CPU
per call and voice-to-voice p50/p95 at the loads both runs measured; and the per-call cost of
each process tree (worker, livekit-server, the callers) for sizing: % of a core per concurrent
call and at rest, RSS at rest and per call, fitted over the steps. Writes everything as JSON.

    .venv/bin/python benchmarks/scale_out.py                      # network providers, 3 pairs
    .venv/bin/python benchmarks/scale_out.py --providers local --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.load import LoadPlan, Providers, describe, run_load  # noqa: E402
from simulator.load_report import capacity, summarize_run  # noqa: E402
from simulator.procstats import slope  # noqa: E402

WORKER_COUNTS = (1, 2)
COSTED = ("worker", "livekit", "simulator", "llm", "fake-openai", "fake-elevenlabs")
"""Process trees whose per-call cost is fitted (those a run has)."""


RUN_META = "scale_run.json"
"""Next to each run's report.json: its pair, worker count, duration and the machine's load."""
MARGIN_MS = 100.0
"""Latency the callers may gain over the run's first step before a step counts as over."""
SWEEP_BUDGET_MS = 1e9
"""The budget the search runs with: no step fails on latency, so every step is measured."""


def plan_for(args: argparse.Namespace, workers: int) -> LoadPlan:
    """The load steps of this benchmark, with `workers` worker processes, and their real
    latency budget (`LoadPlan.budget_ms`; see `sweep`)."""
    return LoadPlan(
        mode="capacity",
        turns=None,
        start=args.start,
        step=args.step,
        max_calls=args.max_calls,
        step_seconds=args.step_seconds,
        settle_seconds=args.settle_seconds,
        budget_ms=args.budget_ms,
        baseline_budget=args.baseline_budget,
        providers=Providers(kind=args.providers),
        workers=workers,
        worker_max_calls=args.worker_max_calls,
    )


def sweep(plan: LoadPlan) -> LoadPlan:
    """The plan run: the same steps without a latency verdict, so that none ends the run."""
    return replace(plan, budget_ms=SWEEP_BUDGET_MS, baseline_budget=False)


def judged(report: dict[str, Any], plan: LoadPlan) -> dict[str, Any]:
    """The report of a sweep under the plan's real budget: its summary made again."""
    report = {
        **report,
        "budget_ms": plan.default_budget_ms(),
        "baseline_margin_ms": plan.margin_ms if plan.budget_from_baseline else None,
    }
    report["summary"] = summarize_run(report)
    return report


def split_at(calls: Sequence[Mapping[str, Any]], until: float) -> dict[str, int]:
    """How many of the calls started before `until` each worker took."""
    taken = Counter(
        c.get("worker") or "?"
        for c in calls
        if c.get("started_at") is not None and c["started_at"] < until
    )
    return dict(sorted(taken.items()))


def run_figures(report: Mapping[str, Any]) -> dict[str, Any]:
    """What one load run measured, per step: latency, CPU and RSS of each process tree."""
    summary = report["summary"]
    verdicts = {v["concurrent"]: v for v in summary["capacity"]["steps"]}
    calls = report.get("calls") or []
    steps = []
    for s in summary["steps"]:
        procs = s["processes"]
        steps.append(
            {
                "calls": s["concurrent"],
                "turns": s["turns"],
                "passed": verdicts[s["concurrent"]]["passed"],
                "why": verdicts[s["concurrent"]]["why"],
                "v2v_p50_ms": s["voice_to_voice_p50_ms"],
                "v2v_p95_ms": s["voice_to_voice_p95_ms"],
                "loop_lag_p95_ms": s["loop_lag_p95_ms"],
                "missed": s["missed"],
                "dropped": s["dropped"],
                "machine_cpu": s["machine_cpu"],
                "cpu": {n: p["cpu_mean"] for n, p in procs.items() if n in COSTED},
                "rss_mb": {n: p["rss_mean_mb"] for n, p in procs.items() if n in COSTED},
                "split": split_at(calls, s["since"]) if report.get("calls_per_worker") else None,
            }
        )
    cap = summary["capacity"]
    held = cap["max_concurrent"] or 0
    at_capacity = next((s for s in steps if s["calls"] == held), None)
    cpu = at_capacity["cpu"].get("worker") if at_capacity else None
    # The same steps judged against the run's own first step (its p95 + 100 ms): the calls
    # before the callers notice a change, whatever the machine's other work adds to every turn.
    own = capacity({**report, "budget_ms": None, "baseline_margin_ms": MARGIN_MS}, summary["steps"])
    return {
        "capacity": held,
        "capacity_own_baseline": own["max_concurrent"] or 0,
        "own_baseline_budget_ms": own["budget_ms"],
        "worker_cpu_per_call_at_capacity": None if cpu is None else cpu / held,
        "budget_ms": cap["budget_ms"],
        "first_failure": cap["first_failure"],
        "calls_per_worker": report.get("calls_per_worker"),
        "steps": steps,
    }


def step_at(run: Mapping[str, Any], calls: int) -> Mapping[str, Any] | None:
    return next((s for s in run["steps"] if s["calls"] == calls), None)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """Median, min and max of the known values (None when there are none)."""
    known = [v for v in values if v is not None]
    if not known:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(known),
        "min": min(known),
        "max": max(known),
        "n": len(known),
    }


def pair_ratios(one: Mapping[str, Any], two: Mapping[str, Any], loads: Sequence[int]) -> dict:
    """Two workers / one worker for one pair of runs: capacity, and at each load both
    measured, worker CPU per call and voice-to-voice p50/p95."""
    at: dict[int, dict[str, float | None]] = {}
    for n in loads:
        a, b = step_at(one, n), step_at(two, n)
        if a is None or b is None:
            continue
        at[n] = {
            "worker_cpu_per_call": ratio(b["cpu"].get("worker"), a["cpu"].get("worker")),
            "machine_cpu": ratio(b["machine_cpu"], a["machine_cpu"]),
            "v2v_p50": ratio(b["v2v_p50_ms"], a["v2v_p50_ms"]),
            "v2v_p95": ratio(b["v2v_p95_ms"], a["v2v_p95_ms"]),
            "loop_lag_p95": ratio(b["loop_lag_p95_ms"], a["loop_lag_p95_ms"]),
        }
    return {
        "capacity": ratio(two["capacity"], one["capacity"]),
        "capacity_own_baseline": ratio(two["capacity_own_baseline"], one["capacity_own_baseline"]),
        "worker_cpu_per_call_at_capacity": ratio(
            two["worker_cpu_per_call_at_capacity"], one["worker_cpu_per_call_at_capacity"]
        ),
        "at": at,
    }


def common_loads(runs: Sequence[Mapping[str, Any]]) -> list[int]:
    """The loads every run measured."""
    sets = [{s["calls"] for s in r["steps"] if s["turns"]} for r in runs]
    return sorted(set.intersection(*sets)) if sets else []


def fit(points: Sequence[tuple[float, float]]) -> dict[str, float | None]:
    """Least-squares line through (calls, value): per call (slope) and at rest (intercept)."""
    if len(points) < 2:
        return {"per_call": None, "base": None, "points": len(points)}
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    per_call = slope(xs, ys)
    base = None if per_call is None else statistics.fmean(ys) - per_call * statistics.fmean(xs)
    return {"per_call": per_call, "base": base, "points": len(points)}


def costs(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per process tree, over every step of `runs`: CPU (% of one core) and RSS (MB) as
    base + per_call x concurrent calls."""
    out: dict[str, dict[str, Any]] = {}
    for name in COSTED:
        cpu = [
            (s["calls"], s["cpu"][name])
            for r in runs
            for s in r["steps"]
            if s["cpu"].get(name) is not None
        ]
        rss = [
            (s["calls"], s["rss_mb"][name])
            for r in runs
            for s in r["steps"]
            if s["rss_mb"].get(name) is not None
        ]
        if cpu:
            out[name] = {"cpu_percent": fit(cpu), "rss_mb": fit(rss)}
    return out


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _load(loadavg: Sequence[float] | None) -> str:
    return "-" if not loadavg else f"{loadavg[0]:.1f}"


def _spread_text(s: Mapping[str, Any]) -> str:
    if s["median"] is None:
        return "-"
    return f"{s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}] (n={s['n']})"


def format_run(run: Mapping[str, Any]) -> list[str]:
    head = (
        f"{run['label']}: capacity {run['capacity']} calls"
        f" (budget {_f(run['budget_ms'])} ms; against its own first step"
        f" {run['capacity_own_baseline']}, budget {_f(run['own_baseline_budget_ms'])} ms;"
        f" load average {_load(run['loadavg_before'])} -> {_load(run['loadavg_after'])};"
        f" {_f(run['seconds'])} s)"
    )
    if run["calls_per_worker"]:
        head += f"; calls per worker {run['calls_per_worker']}"
    lines = [head]
    for s in run["steps"]:
        split = f" split {s['split']}" if s["split"] else ""
        ours = sum(v for v in s["cpu"].values() if v is not None)
        lines.append(
            f"  {s['calls']} calls: {s['turns']} turns, v2v p50/p95 {_f(s['v2v_p50_ms'])}/"
            f"{_f(s['v2v_p95_ms'])} ms, loop lag p95 {_f(s['loop_lag_p95_ms'])} ms, worker CPU "
            f"{_f(s['cpu'].get('worker'))}%, ours {_f(ours)}%, machine "
            f"{_f(s['machine_cpu'])}%{split}, {'passed' if s['passed'] else '; '.join(s['why'])}"
        )
    return lines


def format_result(result: Mapping[str, Any]) -> str:
    lines = [result["plan"], ""]
    for run in result["runs"]:
        lines += format_run(run)
    r = result["ratios"]
    lines += ["", "two workers / one worker, median [min-max] over pairs of runs:"]
    held = ", ".join(f"{w} worker(s) {c}" for w, c in r["capacities"].items())
    lines.append(f"  capacity                   {_spread_text(r['capacity'])}; calls held: {held}")
    held = ", ".join(f"{w} worker(s) {c}" for w, c in r["capacities_own_baseline"].items())
    lines.append(
        f"  capacity, own baseline     {_spread_text(r['capacity_own_baseline'])}; "
        f"calls held: {held}"
    )
    lines.append(
        f"  worker CPU per call at capacity {_spread_text(r['worker_cpu_per_call_at_capacity'])}"
    )
    for n, at in r["at"].items():
        lines.append(f"  at {n} calls: worker CPU     {_spread_text(at['worker_cpu_per_call'])}")
        lines.append(f"  at {n} calls: machine CPU    {_spread_text(at['machine_cpu'])}")
        lines.append(f"  at {n} calls: v2v p50        {_spread_text(at['v2v_p50'])}")
        lines.append(f"  at {n} calls: v2v p95        {_spread_text(at['v2v_p95'])}")
        lines.append(f"  at {n} calls: call loop lag p95 {_spread_text(at['loop_lag_p95'])}")
    lines += ["", "per-call cost (fitted over every step; CPU in % of one core, RSS in MB):"]
    for workers, per in result["costs"].items():
        for name, c in per.items():
            cpu, rss = c["cpu_percent"], c["rss_mb"]
            lines.append(
                f"  {workers} worker(s), {name:<16} CPU {_f(cpu['per_call'], 1)}/call"
                f" + {_f(cpu['base'], 1)} at rest; RSS {_f(rss['per_call'], 1)}/call"
                f" + {_f(rss['base'])} at rest"
            )
    return "\n".join(lines)


def summarize(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ratios over pairs of runs, and the per-call costs per worker count."""
    by_workers = {w: [r for r in runs if r["workers"] == w] for w in WORKER_COUNTS}
    pairs = list(zip(by_workers[1], by_workers[2], strict=False))
    loads = common_loads(runs)
    each = [pair_ratios(one, two, loads) for one, two in pairs]
    keys = ("worker_cpu_per_call", "machine_cpu", "v2v_p50", "v2v_p95", "loop_lag_p95")
    ratios = {
        "pairs": len(pairs),
        "capacities": {w: [r["capacity"] for r in rs] for w, rs in by_workers.items()},
        "capacity": spread(p["capacity"] for p in each),
        "capacities_own_baseline": {
            w: [r["capacity_own_baseline"] for r in rs] for w, rs in by_workers.items()
        },
        "capacity_own_baseline": spread(p["capacity_own_baseline"] for p in each),
        "worker_cpu_per_call_at_capacity": spread(
            p["worker_cpu_per_call_at_capacity"] for p in each
        ),
        "at": {
            n: {k: spread(p["at"][n][k] for p in each if n in p["at"]) for k in keys} for n in loads
        },
        "each": each,
    }
    return ratios, {str(w): costs(rs) for w, rs in by_workers.items() if rs}


def measure(args: argparse.Namespace, reports: Path) -> list[dict[str, Any]]:
    """Run the pairs, interleaved; each run's report (and what the machine was doing) goes
    under `reports`."""
    runs = []
    for i in range(args.repeats):
        order = WORKER_COUNTS if i % 2 == 0 else WORKER_COUNTS[::-1]
        for workers in order:
            print(f"\n=== pair {i + 1}, {workers} worker(s) ===", flush=True)
            plan = plan_for(args, workers)
            before, t0 = os.getloadavg(), time.monotonic()
            paths = run_load(sweep(plan), reports / f"{i + 1}-{workers}w")
            meta = {
                "pair": i + 1,
                "workers": workers,
                "seconds": time.monotonic() - t0,
                "loadavg_before": before,
                "loadavg_after": os.getloadavg(),
            }
            (paths["report.json"].parent / RUN_META).write_text(json.dumps(meta) + "\n")
            runs.append(read_run(paths["report.json"].parent, plan, meta))
            print("\n".join(format_run(runs[-1])), flush=True)
            if runs[-1]["interrupted"]:
                raise SystemExit("interrupted: no ratios")
    return runs


def read_run(run_dir: Path, plan: LoadPlan, meta: Mapping[str, Any]) -> dict[str, Any]:
    """One run's figures from its report, judged under the plan's budget."""
    report = judged(json.loads((run_dir / "report.json").read_text()), plan)
    workers = meta["workers"]
    return {
        "label": f"pair {meta['pair']}, {workers} worker{'s' if workers > 1 else ''}",
        **meta,
        "report": str(run_dir / "report.json"),
        "interrupted": report.get("interrupted", False),
        **run_figures(report),
    }


def reread(args: argparse.Namespace, dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """The runs of earlier invocations (their report directories), as pairs numbered anew."""
    runs = []
    pair = 0
    for top in dirs:
        pairs: dict[int, list[tuple[int, Path]]] = {}
        for run_dir in sorted(top.glob("*-*w")):
            index, count = run_dir.name.removesuffix("w").split("-")
            pairs.setdefault(int(index), []).append((int(count), run_dir))
        for number in sorted(pairs):
            pair += 1
            for workers, run_dir in pairs[number]:
                meta_file = run_dir / RUN_META
                meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
                meta.update(pair=pair, workers=workers)
                meta.setdefault("seconds", None)
                meta.setdefault("loadavg_before", None)
                meta.setdefault("loadavg_after", None)
                runs.append(read_run(run_dir, plan_for(args, workers), meta))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", choices=["network", "local"], default="network")
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs (1 and 2 workers)")
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--max-calls", type=int, default=6)
    parser.add_argument("--step-seconds", type=float, default=40.0)
    parser.add_argument("--settle-seconds", type=float, default=8.0)
    parser.add_argument(
        "--worker-max-calls",
        type=int,
        default=8,
        help="each worker's WORKER_MAX_CALLS: LiveKit weighs its choice of worker by 1 - active "
        "calls / this, and sends a node no new call once all its workers are at 0.7 or more "
        "(livekit-server's agents.target_load): 8 lets one worker take the 6 calls of the steps",
    )
    parser.add_argument(
        "--budget-ms", type=float, help="p95 budget (default: the load tester's, see its --help)"
    )
    parser.add_argument(
        "--baseline-budget", action="store_true", help="budget: each run's first step p95 + 100 ms"
    )
    parser.add_argument(
        "--reports",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="run nothing: summarize the runs of earlier invocations (.cache/load/scale-...)",
    )
    parser.add_argument("--out", type=Path, help="JSON (default benchmarks/results/...)")
    args = parser.parse_args()
    out = args.out or ROOT / f"benchmarks/results/scale_out-{args.providers}.json"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")

    started = time.time()
    if args.reports:
        runs = reread(args, args.reports)
    else:
        runs = measure(args, ROOT / ".cache/load" / f"scale-{args.providers}-{stamp}")
    ratios, per_call = summarize(runs)
    pairs = max((r["pair"] for r in runs), default=0)
    result = {
        "benchmark": "scale_out",
        "started_at": started,
        "seconds": time.time() - started,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "plan": describe(plan_for(args, 1)) + f"; 1 and 2 workers, WORKER_MAX_CALLS "
        f"{args.worker_max_calls}, {pairs} pairs",
        "config": {k: v for k, v in asdict(plan_for(args, 1)).items() if k != "wav_dir"},
        "runs": runs,
        "ratios": ratios,
        "costs": per_call,
    }
    print("\n" + format_result(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
