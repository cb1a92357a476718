"""A load run's plots (PNG, on matplotlib's Agg canvas): the voice-to-voice latency CDF,
latency and CPU by load, and each process tree's CPU and memory over time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..procstats import MACHINE, in_window
from .summary import Run, budget_of, values_of, worker_process


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
            v2v = sorted(v * 1000.0 for v in values_of(chosen, "voice_to_voice"))
            if v2v:
                groups.append((f"{step.get('concurrent')} calls (n={len(v2v)})", v2v))
    else:
        v2v = sorted(v * 1000.0 for v in values_of(turns, "voice_to_voice"))
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
