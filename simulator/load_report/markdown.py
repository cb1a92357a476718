"""A load run as text: the live progress line and the markdown summary (summary.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..procstats import MACHINE
from .summary import MAX_MISSED_RATE, Run, Turn, summarize_turns, worker_process


def format_progress(
    elapsed: float,
    calls_up: int,
    calls_target: int,
    turns: Sequence[Turn],
    dropped: int,
) -> str:
    """One live progress line; pass the turns to summarise (e.g. only the current step's)."""
    s = summarize_turns(turns)
    return (
        f"{elapsed:6.1f} s  calls up {calls_up}/{calls_target}  turns {s['turns']}  "
        f"v2v p50 {_num(s['voice_to_voice_p50_ms'])} ms p95 {_num(s['voice_to_voice_p95_ms'])} ms  "
        f"missed {s['missed']}  dropped {dropped}"
    )


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _spread(interval: Sequence[float] | None) -> str:
    return "" if not interval else f" ({interval[0]:.0f}-{interval[1]:.0f})"


def _config_value(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        return "`" + json.dumps(value, default=str, separators=(", ", ": ")) + "`"
    return str(value)


def format_markdown(run: Run, summary: Mapping[str, Any], plots: Mapping[str, Path]) -> str:
    """The human summary: config, a table per step, capacity verdict, memory, plot links."""
    worker = worker_process(run)
    lines = [f"# Load run: {run.get('mode', '?')}", ""]
    if run.get("started_at"):
        lines += [f"Started {run['started_at']}.", ""]
    config = run.get("config") or {}
    if config:
        lines += ["## Config", ""]
        lines += [f"- {key}: {_config_value(value)}" for key, value in config.items()]
        lines.append("")

    total = summary["turns"]
    lines += [
        "## Turns",
        "",
        f"{total['turns']} turns, voice-to-voice p50 {_num(total['voice_to_voice_p50_ms'])} ms, "
        f"p95 {_num(total['voice_to_voice_p95_ms'])} ms, "
        f"max {_num(total['voice_to_voice_max_ms'])} ms; "
        f"barge-in: the agent's voice backed off p50 "
        f"{_num(total['barge_in_backoff_p50_ms'])} ms, "
        f"p95 {_num(total['barge_in_backoff_p95_ms'])} ms, quiet "
        f"p50 {_num(total['barge_in_stop_p50_ms'])} ms, "
        f"p95 {_num(total['barge_in_stop_p95_ms'])} ms (n={total['barge_in_n']}; the worker "
        f"paused p50 {_num(total['barge_in_pause_p50_ms'])} ms, "
        f"p95 {_num(total['barge_in_pause_p95_ms'])} ms after the onset); "
        f"{total['missed']} missed.",
        "",
    ]

    taken = run.get("calls_per_worker")
    if taken:
        spread = ", ".join(f"{name} {calls}" for name, calls in taken.items())
        lines += ["## Workers", "", f"Calls each worker took (LiveKit's dispatch): {spread}.", ""]

    steps = summary["steps"]
    if steps:
        lines += [
            "## Steps",
            "",
            "| calls | turns | v2v p50 ms | v2v p95 ms (90% spread) | v2v max ms "
            "| barge-in back-off p50/p95 ms | barge-in stop p50/p95 ms "
            f"| call loop lag p50/p95 ms | missed | dropped | {worker} CPU % | machine CPU % "
            f"| {worker} RSS MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in steps:
            lines.append(
                f"| {s['concurrent']} | {s['turns']} | {_num(s['voice_to_voice_p50_ms'])} "
                f"| {_num(s['voice_to_voice_p95_ms'])}{_spread(s['voice_to_voice_p95_spread_ms'])} "
                f"| {_num(s['voice_to_voice_max_ms'])} "
                f"| {_num(s['barge_in_backoff_p50_ms'])}/{_num(s['barge_in_backoff_p95_ms'])} "
                f"| {_num(s['barge_in_stop_p50_ms'])}/{_num(s['barge_in_stop_p95_ms'])} "
                f"| {_num(s['loop_lag_p50_ms'])}/{_num(s['loop_lag_p95_ms'])} "
                f"| {s['missed']} | {s['dropped']} | {_num(s['worker_cpu'])} "
                f"| {_num(s['machine_cpu'])} | {_num(s['worker_rss_mb'])} |"
            )
        lines.append("")

    cap = summary["capacity"]
    if run.get("mode") == "capacity" or len(steps) >= 2:
        budget = cap["budget_ms"]
        rule = (
            f"p95 voice-to-voice <= {budget:.0f} ms, "
            if budget is not None
            else "no latency budget, "
        ) + f"no dropped or failed-to-join calls, missed <= {MAX_MISSED_RATE:.0%}"
        lines += ["## Capacity", "", f"Budget: {rule}.", ""]
        if cap["max_concurrent"] is None:
            lines.append("**No load level met the budget.**")
        else:
            lines.append(
                f"**{cap['max_concurrent']} concurrent calls** "
                f"({cap['calls_per_core']:.2f} per core on {cap['cpu_count']} cores)."
            )
        failure = cap["first_failure"]
        if failure is not None:
            lines.append(f"First failing step: {failure['concurrent']} calls: {failure['reason']}.")
        lines.append("")

    lines += ["## Memory", ""]
    per_call = summary["rss_per_call_mb"]
    if per_call is not None:
        lines += [f"{worker} RSS per additional concurrent call: {per_call:.1f} MB.", ""]
    kept = summary["rss_growth_per_ended_call_mb"]
    if kept is not None:
        ended = sum(1 for c in run.get("calls") or [] if c.get("ended_at") is not None)
        lines += [f"{worker} RSS kept per ended call: {kept:.2f} MB ({ended} calls ended).", ""]
    procs = {k: v for k, v in summary["processes"].items() if v["samples"]}
    if procs:
        lines += [
            "| process tree | CPU mean % | CPU p95 % | RSS start MB | RSS end MB | RSS max MB "
            "| RSS growth MB/hour |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, p in procs.items():
            label = f"{name} (memory in use)" if name == MACHINE else name
            lines.append(
                f"| {label} | {_num(p['cpu_mean'])} | {_num(p['cpu_p95'])} "
                f"| {_num(p['rss_start_mb'])} | {_num(p['rss_end_mb'])} | {_num(p['rss_max_mb'])} "
                f"| {_num(p['rss_growth_mb_per_hour'], 1)} |"
            )
        lines.append("")
    else:
        lines += ["No process samples.", ""]

    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{path.stem}]({path.name})" for path in plots.values()]
        lines.append("")
    return "\n".join(lines)
