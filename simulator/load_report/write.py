"""A load run's report files: report.json, summary.md and the plots."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .markdown import format_markdown
from .plots import plot_capacity, plot_latency_cdf, plot_resources
from .summary import Run, summarize_run

logger = logging.getLogger("simulator.load_report")


def write_report(run: Run, out_dir: Path) -> dict[str, Path]:
    """Write report.json, summary.md and the PNG plots into out_dir; return {file name: path}.

    The run: mode, started_at, config (free-form; optional cpu_count and worker_process),
    budget_ms, calls [{call, room, join_time, dropped, error, turns_done, started_at,
    ended_at}], turns [{call, turn, t, concurrent, voice_to_voice, barge_in_stop, missed,
    barge_in}], steps [{concurrent, since, until}], processes (`ProcessSampler.samples()`) and
    marks, and with several workers calls_per_worker {name: calls}; times in seconds since the
    run started. Missing keys count as empty.

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
