"""Summaries, JSON, markdown and plots of a load run (`python -m simulator load`).

The load driver hands over one run dict (see `write_report`); everything here is a pure function
of it, so a saved report.json can be summarised and plotted again later. Times in the run are in
seconds; latencies in summaries are in milliseconds, CPU in percent of one core and memory in MB
(2**20 bytes), as in `simulator.procstats`.

The figures are in `summary`, the text in `markdown`, the plots in `plots`, the report files in
`write`, and the comparison of several runtimes in `compare`.
"""

from __future__ import annotations

from .compare import COMPARED, compare_runs, format_comparison, runtime_figures, write_comparison
from .markdown import format_markdown, format_progress
from .plots import plot_capacity, plot_latency_cdf, plot_resources
from .summary import (
    MAX_MISSED_RATE,
    Run,
    Turn,
    budget_of,
    capacity,
    cpu_count,
    rss_growth_per_call,
    rss_per_call,
    summarize_run,
    summarize_steps,
    summarize_turns,
    worker_process,
)
from .write import write_report

__all__ = [
    "COMPARED",
    "MAX_MISSED_RATE",
    "Run",
    "Turn",
    "budget_of",
    "capacity",
    "compare_runs",
    "cpu_count",
    "format_comparison",
    "format_markdown",
    "format_progress",
    "plot_capacity",
    "plot_latency_cdf",
    "plot_resources",
    "rss_growth_per_call",
    "rss_per_call",
    "runtime_figures",
    "summarize_run",
    "summarize_steps",
    "summarize_turns",
    "worker_process",
    "write_comparison",
    "write_report",
]
