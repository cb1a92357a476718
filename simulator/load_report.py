"""Summaries, JSON, markdown and plots of a load run (`python -m simulator load`).

The load driver hands over one run dict (see `write_report`); everything here is a pure function
of it, so a saved report.json can be summarised and plotted again later. Times in the run are in
seconds; latencies in summaries are in milliseconds, CPU in percent of one core and memory in MB
(2**20 bytes), as in `simulator.procstats`.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.stats import percentile

from .procstats import MACHINE, MB, in_window, slope, summarize_samples

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_MISSED_RATE",
    "budget_of",
    "capacity",
    "compare_runs",
    "format_comparison",
    "format_progress",
    "rss_growth_per_call",
    "rss_per_call",
    "summarize_run",
    "summarize_steps",
    "summarize_turns",
    "write_comparison",
    "write_report",
]

MAX_MISSED_RATE = 0.01
"""Largest share of turns without any agent reply that a capacity step may have."""

Run = Mapping[str, Any]
Turn = Mapping[str, Any]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _values(turns: Sequence[Turn], key: str) -> list[float]:
    return [t[key] for t in turns if t.get(key) is not None]


def summarize_turns(turns: Sequence[Turn]) -> dict[str, Any]:
    """Latency and reliability of a set of turns.

    Keys: turns, voice_to_voice_n, voice_to_voice_p50_ms, voice_to_voice_p95_ms,
    voice_to_voice_max_ms, barge_in_turns, barge_in_n (turns with a measured stop),
    barge_in_stop_p50_ms, barge_in_stop_p95_ms, barge_in_pause_p50_ms, barge_in_pause_p95_ms
    (the onset -> the worker's pause, the agent's part of the stop), loop_lag_p50_ms,
    loop_lag_p95_ms (over turns, of the worst lateness of the call's event loop in the worker
    during the turn), missed, missed_rate (None without turns).
    """
    v2v = _values(turns, "voice_to_voice")
    stops = _values(turns, "barge_in_stop")
    pauses = _values(turns, "barge_in_pause")
    lags = [
        m["loop_lag_max"] for t in turns if "loop_lag_max" in (m := t.get("agent_metrics") or {})
    ]
    missed = sum(1 for t in turns if t.get("missed"))
    return {
        "turns": len(turns),
        "voice_to_voice_n": len(v2v),
        "voice_to_voice_p50_ms": _ms(percentile(v2v, 0.5)),
        "voice_to_voice_p95_ms": _ms(percentile(v2v, 0.95)),
        "voice_to_voice_max_ms": _ms(max(v2v)) if v2v else None,
        "barge_in_turns": sum(1 for t in turns if t.get("barge_in")),
        "barge_in_n": len(stops),
        "barge_in_stop_p50_ms": _ms(percentile(stops, 0.5)),
        "barge_in_stop_p95_ms": _ms(percentile(stops, 0.95)),
        "barge_in_pause_p50_ms": _ms(percentile(pauses, 0.5)),
        "barge_in_pause_p95_ms": _ms(percentile(pauses, 0.95)),
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
        f"barge-in stop p50 {_num(total['barge_in_stop_p50_ms'])} ms, "
        f"p95 {_num(total['barge_in_stop_p95_ms'])} ms (n={total['barge_in_n']}; the worker "
        f"paused p50 {_num(total['barge_in_pause_p50_ms'])} ms, "
        f"p95 {_num(total['barge_in_pause_p95_ms'])} ms after the onset); "
        f"{total['missed']} missed.",
        "",
    ]

    steps = summary["steps"]
    if steps:
        lines += [
            "## Steps",
            "",
            "| calls | turns | v2v p50 ms | v2v p95 ms | v2v max ms | barge-in stop p50/p95 ms "
            f"| call loop lag p50/p95 ms | missed | dropped | {worker} CPU % | machine CPU % "
            f"| {worker} RSS MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in steps:
            lines.append(
                f"| {s['concurrent']} | {s['turns']} | {_num(s['voice_to_voice_p50_ms'])} "
                f"| {_num(s['voice_to_voice_p95_ms'])} | {_num(s['voice_to_voice_max_ms'])} "
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


def _new_figure(rows: int = 1, height: float = 4.5) -> Any:
    """A figure on the Agg canvas: no GUI backend and no pyplot global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, height * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_latency_cdf(run: Run, path: Path) -> bool:
    """CDF of voice-to-voice latency, one curve per step when there are several."""
    turns = run.get("turns") or []
    steps = run.get("steps") or []
    groups: list[tuple[str, list[float]]] = []
    if len(steps) >= 2:
        for step in steps:
            since, until = step.get("since"), step.get("until")
            chosen = [
                t for t in turns if t.get("t") is not None and in_window(t["t"], since, until)
            ]
            v2v = sorted(v * 1000.0 for v in _values(chosen, "voice_to_voice"))
            if v2v:
                groups.append((f"{step.get('concurrent')} calls (n={len(v2v)})", v2v))
    else:
        v2v = sorted(v * 1000.0 for v in _values(turns, "voice_to_voice"))
        if v2v:
            groups.append((f"all turns (n={len(v2v)})", v2v))
    if not groups:
        return False
    fig = _new_figure()
    ax = fig.add_subplot()
    for label, values in groups:
        ax.ecdf(values, label=label)
    budget = budget_of(run)
    if budget is not None:
        ax.axvline(budget, color="red", linestyle="--", label=f"budget {budget:.0f} ms")
    ax.axhline(0.95, color="grey", linewidth=0.5)
    ax.set_xlabel("voice-to-voice latency (ms)")
    ax.set_ylabel("share of turns")
    ax.set_ylim(0, 1.02)
    ax.set_title("Voice-to-voice latency")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.savefig(path, dpi=100)
    return True


def plot_capacity(run: Run, steps: Sequence[Mapping[str, Any]], path: Path) -> bool:
    """p50/p95 voice-to-voice against concurrent calls, the budget, and worker CPU."""
    rows = sorted(
        (
            s
            for s in steps
            if s["concurrent"] is not None and s["voice_to_voice_p50_ms"] is not None
        ),
        key=lambda s: s["concurrent"],
    )
    if len(rows) < 2:
        return False
    from matplotlib.ticker import MaxNLocator

    worker = worker_process(run)
    x = [s["concurrent"] for s in rows]
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.plot(x, [s["voice_to_voice_p50_ms"] for s in rows], marker="o", label="p50 voice-to-voice")
    ax.plot(x, [s["voice_to_voice_p95_ms"] for s in rows], marker="o", label="p95 voice-to-voice")
    budget = budget_of(run, steps)
    if budget is not None:
        ax.axhline(budget, color="red", linestyle="--", label=f"budget {budget:.0f} ms")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    cpu = [(s["concurrent"], s["worker_cpu"]) for s in rows if s["worker_cpu"] is not None]
    if cpu:
        ax2 = ax.twinx()
        ax2.plot(
            [c for c, _ in cpu],
            [v for _, v in cpu],
            color="grey",
            marker="s",
            linestyle=":",
            label=f"{worker} CPU % (100 = one core)",
        )
        ax2.set_ylabel("CPU % of one core")
        ax2.set_ylim(bottom=0)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper left", fontsize="small")
    ax.set_title("Latency and CPU by load")
    fig.savefig(path, dpi=100)
    return True


def plot_resources(run: Run, path: Path) -> bool:
    """CPU % and RSS MB of each process tree over time, with the run's marks."""
    samples = {k: v for k, v in (run.get("processes") or {}).items() if v}
    if not samples:
        return False
    worker = worker_process(run)
    order = sorted(samples, key=lambda n: (n != worker, n == MACHINE, n))
    fig = _new_figure(rows=2, height=3.5)
    cpu_ax, mem_ax = fig.subplots(2, 1, sharex=True)
    for name in order:
        series = samples[name]
        style: dict[str, Any] = {"linewidth": 2.0 if name == worker else 1.0}
        if name == MACHINE:
            style = {"linewidth": 1.0, "linestyle": "--", "color": "grey"}
        cpu = [(s["t"], s["cpu_percent"]) for s in series if s.get("cpu_percent") is not None]
        if cpu:
            cpu_ax.plot([t for t, _ in cpu], [v for _, v in cpu], label=name, **style)
        if name != MACHINE:
            mem = [(s["t"], s["rss_bytes"] / 2**20) for s in series if s.get("rss_bytes")]
            if mem:
                mem_ax.plot([t for t, _ in mem], [v for _, v in mem], label=name, **style)
    for mark in run.get("marks") or []:
        for ax in (cpu_ax, mem_ax):
            ax.axvline(mark["t"], color="black", alpha=0.3, linewidth=0.8)
        cpu_ax.annotate(
            str(mark.get("label", "")),
            xy=(mark["t"], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -3),
            textcoords="offset points",
            rotation=90,
            va="top",
            ha="left",
            fontsize="x-small",
        )
    cpu_ax.set_ylabel("CPU % (100 = one core)")
    cpu_ax.set_ylim(bottom=0)
    cpu_ax.grid(alpha=0.3)
    cpu_ax.legend(loc="best", fontsize="small")
    cpu_ax.set_title("Process trees")
    mem_ax.set_ylabel("RSS (MB)")
    mem_ax.set_xlabel("time since start (s)")
    mem_ax.set_ylim(bottom=0)
    mem_ax.grid(alpha=0.3)
    if mem_ax.lines:
        mem_ax.legend(loc="best", fontsize="small")
    fig.savefig(path, dpi=100)
    return True


def write_report(run: Run, out_dir: Path) -> dict[str, Path]:
    """Write report.json, summary.md and the PNG plots into out_dir; return {file name: path}.

    The run: mode, started_at, config (free-form; optional cpu_count and worker_process),
    budget_ms, calls [{call, room, join_time, dropped, error, turns_done, started_at,
    ended_at}], turns [{call, turn, t, concurrent, voice_to_voice, barge_in_stop, missed,
    barge_in}], steps [{concurrent, since, until}], processes (`ProcessSampler.samples()`) and
    marks; times in seconds since the run started. Missing keys count as empty.

    report.json is the run plus a "summary" key (`summarize_run`). Plots are written only when
    they have data: latency_cdf.png when any voice-to-voice latency was measured, capacity.png
    with 2+ measured steps, resources.png when there are process samples. A run cut short (no
    turns, no samples) still gets its JSON and markdown; a plot that fails is logged and left out.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize_run(run)
    written: dict[str, Path] = {}
    report = out_dir / "report.json"
    report.write_text(json.dumps({**run, "summary": summary}, indent=1, default=str) + "\n")
    written[report.name] = report

    plots: dict[str, Path] = {}
    for name, draw in (
        ("latency_cdf", lambda p: plot_latency_cdf(run, p)),
        ("capacity", lambda p: plot_capacity(run, summary["steps"], p)),
        ("resources", lambda p: plot_resources(run, p)),
    ):
        path = out_dir / f"{name}.png"
        path.unlink(missing_ok=True)
        try:
            if draw(path):
                plots[path.name] = path
        except Exception:
            logger.exception("could not draw %s", path)

    markdown = out_dir / "summary.md"
    markdown.write_text(format_markdown(run, summary, plots))
    written[markdown.name] = markdown
    written.update(plots)
    return written


# --- several runtimes under the same plan -------------------------------------------------------

COMPARED = (
    ("max_concurrent", "capacity, calls", "higher"),
    ("voice_to_voice_p50_ms", "v2v p50 ms", "lower"),
    ("voice_to_voice_p95_ms", "v2v p95 ms", "lower"),
    ("overhead_p50_ms", "overhead p50 ms", "lower"),
    ("barge_in_stop_p50_ms", "barge-in stop p50 ms", "lower"),
    ("barge_in_stop_p95_ms", "barge-in stop p95 ms", "lower"),
    ("worker_cpu_per_call", "agent CPU % per call", "lower"),
    ("worker_rss_mb", "agent RSS MB", "lower"),
    ("rss_per_call_mb", "RSS MB per extra call", "lower"),
    ("missed", "missed turns", "lower"),
    ("dropped", "dropped calls", "lower"),
)
"""What `compare_runs` sets side by side: key, label, and which way is better."""


def runtime_figures(run: Run) -> dict[str, Any]:
    """One runtime's headline figures from its run.

    Latency over all its turns, or in a capacity run over its least-loaded step
    (`latency_at_calls`), so that runtimes are compared at the same load; `overhead_p50_ms` is
    the voice-to-voice p50 minus the runtime's configured hold and the providers' latencies.
    CPU per call and RSS come from the busiest step that met the budget (capacity runs), else
    from the last step.
    """
    summary = summarize_run(run)
    config = run.get("config") or {}
    turns, steps, cap = summary["turns"], summary["steps"], summary["capacity"]
    passed = {v["concurrent"] for v in cap["steps"] if v["passed"]}
    chosen = [s for s in steps if s["concurrent"] in passed] or steps
    step = max(chosen, key=lambda s: s["concurrent"] or 0) if chosen else None
    latency_at = None
    if run.get("mode") == "capacity" and steps:
        light = min(steps, key=lambda s: s["concurrent"] or 0)
        turns, latency_at = light, light["concurrent"]
    p50 = turns["voice_to_voice_p50_ms"]
    hold, providers = config.get("hold_ms"), config.get("provider_latency_ms")
    cpu = step["worker_cpu"] if step else None
    calls = step["concurrent"] if step else None
    return {
        "hold_ms": hold,
        "provider_latency_ms": providers,
        "budget_ms": cap["budget_ms"],
        "max_concurrent": cap["max_concurrent"] if run.get("mode") == "capacity" else None,
        "voice_to_voice_p50_ms": p50,
        "voice_to_voice_p95_ms": turns["voice_to_voice_p95_ms"],
        "overhead_p50_ms": (
            None if p50 is None or hold is None or providers is None else p50 - hold - providers
        ),
        "barge_in_stop_p50_ms": turns["barge_in_stop_p50_ms"],
        "barge_in_stop_p95_ms": turns["barge_in_stop_p95_ms"],
        "latency_at_calls": latency_at,
        "at_calls": calls,
        "worker_cpu_per_call": None if cpu is None or not calls else cpu / calls,
        "worker_rss_mb": step["worker_rss_mb"] if step else None,
        "rss_per_call_mb": summary["rss_per_call_mb"],
        "missed": turns["missed"],
        "dropped": sum(1 for c in run.get("calls") or [] if c.get("dropped")),
    }


def _ratio(ours: Any, theirs: Any) -> float | None:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or theirs == 0:
        return None
    return ours / theirs


def compare_runs(runs: Mapping[str, Run]) -> dict[str, Any]:
    """Each runtime's figures, and each peer's ratios against the first runtime (ours ÷ peer)."""
    figures = {name: runtime_figures(run) for name, run in runs.items()}
    names = list(figures)
    if not names:
        return {"baseline": None, "figures": figures, "ratios": {}}
    base = names[0]
    ratios = {
        peer: {key: _ratio(figures[base][key], figures[peer][key]) for key, _, _ in COMPARED}
        for peer in names[1:]
    }
    return {"baseline": base, "figures": figures, "ratios": ratios}


def format_comparison(comparison: Mapping[str, Any], plan_line: str = "") -> str:
    """The side-by-side table and the ratio table, in markdown."""
    figures, ratios, base = comparison["figures"], comparison["ratios"], comparison["baseline"]
    names = list(figures)
    lines = ["# Load comparison", ""]
    if plan_line:
        lines += [plan_line, ""]
    lines += ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label, _ in (("hold_ms", "configured hold ms", ""), *COMPARED):
        lines.append(f"| {label} | " + " | ".join(_num(figures[n][key]) for n in names) + " |")
    for key, label in (("latency_at_calls", "latency at calls"), ("at_calls", "CPU, RSS at calls")):
        lines.append(f"| {label} | " + " | ".join(_num(figures[n][key]) for n in names) + " |")
    lines.append("")
    if ratios:
        lines += [
            f"Ratios {base} ÷ peer (capacity: higher is better for {base}; the rest: lower is).",
            "",
            "| | " + " | ".join(ratios) + " |",
            "|---|" + "---:|" * len(ratios),
        ]
        for key, label, _ in COMPARED:
            cells = [_num(ratios[p][key], 2) for p in ratios]
            if any(c != "-" for c in cells):
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_comparison(
    runs: Mapping[str, Run], out_dir: Path, plan_line: str = ""
) -> dict[str, Path]:
    """compare.json and compare.md in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    comparison = compare_runs(runs)
    paths = {"compare.json": out_dir / "compare.json", "compare.md": out_dir / "compare.md"}
    paths["compare.json"].write_text(json.dumps(comparison, indent=1) + "\n")
    paths["compare.md"].write_text(format_comparison(comparison, plan_line))
    return paths
