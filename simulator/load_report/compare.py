"""Several runtimes under the same load plan: each one's headline figures, side by side, and
the ratios against the first (compare.json, compare.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .markdown import _num
from .summary import Run, summarize_run

COMPARED = (
    ("max_concurrent", "capacity, calls", "higher"),
    ("voice_to_voice_p50_ms", "v2v p50 ms", "lower"),
    ("voice_to_voice_p95_ms", "v2v p95 ms", "lower"),
    ("overhead_p50_ms", "overhead p50 ms", "lower"),
    ("barge_in_stop_p50_ms", "barge-in stop p50 ms", "lower"),
    ("barge_in_stop_p95_ms", "barge-in stop p95 ms", "lower"),
    ("worker_cpu_per_call", "agent CPU % per call", "lower"),
    ("worker_cpu_per_call_equal_load", "agent CPU % per call, equal load", "lower"),
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
    from the last step; `worker_cpu_per_call_by_calls` has it for every step, and
    `compare_runs` fills `worker_cpu_per_call_equal_load` at the busiest load every runtime
    compared was measured at.
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
        "worker_cpu_per_call_by_calls": {
            s["concurrent"]: s["worker_cpu"] / s["concurrent"]
            for s in steps
            if s["worker_cpu"] is not None and s["concurrent"]
        },
        "worker_cpu_per_call_equal_load": None,
        "equal_load_calls": None,
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
    shared = set.intersection(*(set(f["worker_cpu_per_call_by_calls"]) for f in figures.values()))
    if shared:
        level = max(shared)
        for f in figures.values():
            f["equal_load_calls"] = level
            f["worker_cpu_per_call_equal_load"] = f["worker_cpu_per_call_by_calls"][level]
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
    for key, label in (
        ("latency_at_calls", "latency at calls"),
        ("at_calls", "CPU, RSS at calls"),
        ("equal_load_calls", "equal load, calls"),
    ):
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
