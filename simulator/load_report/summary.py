"""A load run's figures: latency and reliability of its turns, each load step's window, the
capacity verdict against the latency budget, and the worker's memory per call.

Times in the run are in seconds; latencies in summaries are in milliseconds, CPU in percent of
one core and memory in MB (2**20 bytes), as in `simulator.procstats`.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping, Sequence
from typing import Any

from shared.stats import percentile, percentile_interval

from ..procstats import MACHINE, MB, in_window, slope, summarize_samples

MAX_MISSED_RATE = 0.01
"""Largest share of turns without any agent reply that a capacity step may have."""

Run = Mapping[str, Any]
Turn = Mapping[str, Any]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def values_of(turns: Sequence[Turn], key: str) -> list[float]:
    """The measured values of `key` in `turns` (turns without one left out)."""
    return [t[key] for t in turns if t.get(key) is not None]


def summarize_turns(turns: Sequence[Turn]) -> dict[str, Any]:
    """Latency and reliability of a set of turns.

    Keys: turns, voice_to_voice_n, voice_to_voice_p50_ms, voice_to_voice_p95_ms,
    voice_to_voice_p95_spread_ms (the 90% bootstrap interval of that p95, [low, high]: how much
    it could move with as many other turns), voice_to_voice_max_ms, barge_in_turns, barge_in_n
    (turns with a measured stop), barge_in_stop_p50_ms, barge_in_stop_p95_ms,
    barge_in_pause_p50_ms, barge_in_pause_p95_ms (the onset -> the worker's pause, the agent's
    part of the stop), barge_in_backoff_p50_ms, barge_in_backoff_p95_ms (the onset -> the
    agent's voice backing off as heard: ducked or stopped), loop_lag_p50_ms,
    loop_lag_p95_ms (over turns, of the worst lateness of the call's event loop in the worker
    during the turn), missed, missed_rate (None without turns).
    """
    v2v = values_of(turns, "voice_to_voice")
    stops = values_of(turns, "barge_in_stop")
    pauses = values_of(turns, "barge_in_pause")
    backoffs = values_of(turns, "barge_in_backoff")
    lags = [
        m["loop_lag_max"] for t in turns if "loop_lag_max" in (m := t.get("agent_metrics") or {})
    ]
    missed = sum(1 for t in turns if t.get("missed"))
    spread = percentile_interval(v2v, 0.95)
    return {
        "turns": len(turns),
        "voice_to_voice_n": len(v2v),
        "voice_to_voice_p50_ms": _ms(percentile(v2v, 0.5)),
        "voice_to_voice_p95_ms": _ms(percentile(v2v, 0.95)),
        "voice_to_voice_p95_spread_ms": None if spread is None else [_ms(x) for x in spread],
        "voice_to_voice_max_ms": _ms(max(v2v)) if v2v else None,
        "barge_in_turns": sum(1 for t in turns if t.get("barge_in")),
        "barge_in_n": len(stops),
        "barge_in_stop_p50_ms": _ms(percentile(stops, 0.5)),
        "barge_in_stop_p95_ms": _ms(percentile(stops, 0.95)),
        "barge_in_pause_p50_ms": _ms(percentile(pauses, 0.5)),
        "barge_in_pause_p95_ms": _ms(percentile(pauses, 0.95)),
        "barge_in_backoff_p50_ms": _ms(percentile(backoffs, 0.5)),
        "barge_in_backoff_p95_ms": _ms(percentile(backoffs, 0.95)),
        "loop_lag_p50_ms": _ms(percentile(lags, 0.5)),
        "loop_lag_p95_ms": _ms(percentile(lags, 0.95)),
        "missed": missed,
        "missed_rate": missed / len(turns) if turns else None,
    }


def worker_process(run: Run) -> str:
    """The key of the agent worker's process tree in `run["processes"]`."""
    return (run.get("config") or {}).get("worker_process", "worker")


def _call_end(call: Mapping[str, Any]) -> float | None:
    end = call.get("ended_at")
    return call.get("started_at") if end is None else end


def summarize_steps(run: Run) -> list[dict[str, Any]]:
    """One summary per load level in `run["steps"]`, over its window [since, until).

    Each holds the step's window and concurrency, `summarize_turns` of the turns that started in
    the window, the calls dropped in it (by the time they ended), the calls that started in it
    and never joined, and the process figures of the window: `processes` (every series'
    `procstats.summarize_series`), `cpu` (mean CPU per series), `machine_cpu`, `worker_cpu` and
    `worker_rss_mb` (mean RSS of the worker tree).
    """
    turns = run.get("turns") or []
    calls = run.get("calls") or []
    samples = run.get("processes") or {}
    worker = worker_process(run)
    out = []
    for step in run.get("steps") or []:
        since, until = step.get("since"), step.get("until")
        window = [t for t in turns if t.get("t") is not None and in_window(t["t"], since, until)]
        dropped = [
            c
            for c in calls
            if c.get("dropped")
            and (end := _call_end(c)) is not None
            and in_window(end, since, until)
        ]
        join_failures = [
            c
            for c in calls
            if c.get("join_time") is None
            and c.get("error")
            and c.get("started_at") is not None
            and in_window(c["started_at"], since, until)
        ]
        procs = summarize_samples(samples, since, until)
        out.append(
            {
                "concurrent": step.get("concurrent"),
                "since": since,
                "until": until,
                **summarize_turns(window),
                "dropped": len(dropped),
                "join_failures": len(join_failures),
                "cpu": {name: s["cpu_mean"] for name, s in procs.items() if name != MACHINE},
                "machine_cpu": procs.get(MACHINE, {}).get("cpu_mean"),
                "worker_cpu": procs.get(worker, {}).get("cpu_mean"),
                "worker_rss_mb": procs.get(worker, {}).get("rss_mean_mb"),
                "processes": procs,
            }
        )
    return out


def _step_failures(step: Mapping[str, Any], budget_ms: float | None) -> list[str]:
    """Why a step did not meet the budget; empty when it did."""
    reasons = []
    p95 = step["voice_to_voice_p95_ms"]
    if p95 is None:
        reasons.append("no voice-to-voice latency measured")
    elif budget_ms is not None and p95 > budget_ms:
        reasons.append(f"p95 voice-to-voice {p95:.0f} ms > budget {budget_ms:.0f} ms")
    if step["dropped"]:
        reasons.append(f"{step['dropped']} call(s) dropped")
    if step["join_failures"]:
        reasons.append(f"{step['join_failures']} call(s) failed to join")
    rate = step["missed_rate"]
    if rate is not None and rate > MAX_MISSED_RATE:
        reasons.append(
            f"{step['missed']}/{step['turns']} turns missed ({rate:.1%} > {MAX_MISSED_RATE:.0%})"
        )
    return reasons


def cpu_count(run: Run) -> int:
    """Cores of the machine the run was made on (recorded in the config), else of this one."""
    return int((run.get("config") or {}).get("cpu_count") or os.cpu_count() or 1)


def budget_of(run: Run, steps: Sequence[Mapping[str, Any]] | None = None) -> float | None:
    """The p95 voice-to-voice budget: `run["budget_ms"]`, or with `run["baseline_margin_ms"]`
    the least-loaded measured step's p95 plus that margin (None before one is measured)."""
    margin = run.get("baseline_margin_ms")
    if margin is None:
        return run.get("budget_ms")
    if steps is None:
        steps = summarize_steps(run)
    measured = [s for s in steps if s["voice_to_voice_p95_ms"] is not None]
    if not measured:
        return None
    first = min(measured, key=lambda s: s["concurrent"] or 0)
    return first["voice_to_voice_p95_ms"] + margin


def capacity(run: Run, steps: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The capacity verdict: how many concurrent calls meet the budget.

    A step passes when its p95 voice-to-voice is within the budget (`budget_of`; not checked
    when that is None), no call dropped or failed to join, and at most 1% of its turns were missed.
    `max_concurrent` is the largest passing level below every failing level, so a lucky pass
    above a failure does not count; `first_failure` is the lowest failing level and its reason.
    `steps` takes an already computed `summarize_steps(run)`.
    """
    if steps is None:
        steps = summarize_steps(run)
    budget = budget_of(run, steps)
    verdicts = []
    for step in sorted(steps, key=lambda s: s["concurrent"] if s["concurrent"] is not None else 0):
        reasons = _step_failures(step, budget)
        verdicts.append({"concurrent": step["concurrent"], "passed": not reasons, "why": reasons})
    failing = [v for v in verdicts if not v["passed"]]
    limit = failing[0]["concurrent"] if failing else None
    passing = [
        v["concurrent"]
        for v in verdicts
        if v["passed"]
        and v["concurrent"] is not None
        and (limit is None or v["concurrent"] < limit)
    ]
    best = max(passing) if passing else None
    cores = cpu_count(run)
    return {
        "budget_ms": budget,
        "max_missed_rate": MAX_MISSED_RATE,
        "max_concurrent": best,
        "cpu_count": cores,
        "calls_per_core": None if best is None else best / cores,
        "first_failure": (
            None
            if not failing
            else {"concurrent": failing[0]["concurrent"], "reason": "; ".join(failing[0]["why"])}
        ),
        "steps": verdicts,
    }


def rss_per_call(run: Run, steps: Sequence[Mapping[str, Any]] | None = None) -> float | None:
    """MB of worker-tree RSS per additional concurrent call.

    The least-squares slope of (concurrent, mean worker RSS) across steps; None with fewer than
    2 steps that have both. `steps` takes an already computed `summarize_steps(run)`.
    """
    if steps is None:
        steps = summarize_steps(run)
    points = [
        (s["concurrent"], s["worker_rss_mb"])
        for s in steps
        if s["concurrent"] is not None and s["worker_rss_mb"] is not None
    ]
    if len(points) < 2:
        return None
    return slope([float(x) for x, _ in points], [y for _, y in points])


def rss_growth_per_call(run: Run) -> float | None:
    """MB the worker tree keeps per call that has ended: the slope of its RSS, sampled when
    each call ends, against the number of calls ended so far (a soak that redials).

    None with fewer than 3 ended calls or no samples.
    """
    samples = (run.get("processes") or {}).get(worker_process(run)) or []
    ends = sorted(e for c in run.get("calls") or [] if (e := c.get("ended_at")) is not None)
    if len(ends) < 3 or not samples:
        return None
    times = [s["t"] for s in samples]
    points = []
    for n, end in enumerate(ends, 1):
        i = bisect.bisect_right(times, end) - 1
        if i >= 0:
            points.append((float(n), samples[i]["rss_bytes"] / MB))
    if len(points) < 3:
        return None
    return slope([x for x, _ in points], [y for _, y in points])


def summarize_run(run: Run) -> dict[str, Any]:
    """Everything `report.json` carries under "summary"."""
    steps = summarize_steps(run)
    return {
        "turns": summarize_turns(run.get("turns") or []),
        "steps": steps,
        "capacity": capacity(run, steps),
        "rss_per_call_mb": rss_per_call(run, steps),
        "rss_growth_per_ended_call_mb": rss_growth_per_call(run),
        "processes": summarize_samples(run.get("processes") or {}),
    }
