"""Load-run summaries, capacity verdict, report files and progress line on hand-made runs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.stats import percentile, percentile_interval
from simulator.load_report import (
    capacity,
    compare_runs,
    format_comparison,
    format_markdown,
    format_progress,
    rss_growth_per_call,
    rss_per_call,
    summarize_run,
    summarize_steps,
    summarize_turns,
    write_comparison,
    write_report,
)

MIB = 2**20
STEP_S = 10.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def turn(t: float, v2v: float | None, call: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "call": call,
        "turn": 1,
        "t": t,
        "concurrent": 1,
        "voice_to_voice": v2v,
        "barge_in_stop": None,
        "missed": v2v is None,
        "barge_in": False,
        **extra,
    }


def make_run(
    levels: list[tuple[int, list[float | None]]],
    budget_ms: float | None = 1000.0,
    worker_mb: tuple[float, float] = (300.0, 45.0),
    calls: list[dict[str, Any]] | None = None,
    cpu_per_call: float = 10.0,
) -> dict[str, Any]:
    """A capacity run: level i spans [10 i, 10 (i + 1)) s with the given v2v latencies (s).

    The worker tree's RSS is worker_mb[0] + worker_mb[1] * concurrent MB and its CPU is
    `cpu_per_call` % per call, sampled every second; the machine's CPU is 15 % per call.
    """
    steps, turns = [], []
    worker, machine = [], []
    for i, (concurrent, latencies) in enumerate(levels):
        since = i * STEP_S
        steps.append({"concurrent": concurrent, "since": since, "until": since + STEP_S})
        for j, v2v in enumerate(latencies):
            turns.append(turn(since + 0.5 + j * 0.05, v2v, call=j % concurrent))
        for k in range(int(STEP_S)):
            t = since + k
            rss = (worker_mb[0] + worker_mb[1] * concurrent) * MIB
            worker.append(
                {"t": t, "cpu_percent": cpu_per_call * concurrent, "rss_bytes": rss, "processes": 3}
            )
            machine.append(
                {"t": t, "cpu_percent": 15.0 * concurrent, "rss_bytes": 8 * 2**30, "processes": 90}
            )
    return {
        "mode": "capacity",
        "started_at": "2026-11-22T01:00:00Z",
        "config": {"cpu_count": 2, "hold": 60, "providers": {"llm": "fake", "tts": "piper"}},
        "budget_ms": budget_ms,
        "calls": calls or [],
        "turns": turns,
        "steps": steps,
        "processes": {"worker": worker, "machine": machine},
        "marks": [{"t": s["since"], "label": f"step {s['concurrent']} calls"} for s in steps],
    }


def test_percentile_known_values() -> None:
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile([4, 1, 3, 2], 0.0) == 1
    assert percentile([4, 1, 3, 2], 1.0) == 4
    assert percentile([1, 2, 3, 4], 0.95) == pytest.approx(3.85)
    assert percentile([10, 20, 30, 40, 50], 0.25) == 20
    assert percentile([7.5], 0.95) == 7.5
    assert percentile([], 0.5) is None
    rng = random.Random(3)
    values = [rng.uniform(0.2, 3.0) for _ in range(101)]
    for q in (0.1, 0.5, 0.9, 0.95, 0.99):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q * 100))
    with pytest.raises(ValueError):
        percentile([1.0], 95)


def test_percentile_interval_is_the_spread_of_a_resampled_quantile() -> None:
    rng = random.Random(5)
    few = [rng.gauss(1.2, 0.15) for _ in range(20)]
    many = few + [rng.gauss(1.2, 0.15) for _ in range(380)]
    lo, hi = percentile_interval(few, 0.95) or (0.0, 0.0)
    assert lo <= (percentile(few, 0.95) or 0.0) <= hi
    assert percentile_interval(few, 0.95) == (lo, hi)  # one sample, one interval
    many_lo, many_hi = percentile_interval(many, 0.95) or (0.0, 0.0)
    assert many_hi - many_lo < (hi - lo) / 2  # 20x the turns: a much steadier p95
    assert percentile_interval([1.0], 0.95) is None
    assert percentile_interval([1.0] * 10, 0.95) == (1.0, 1.0)


def test_summarize_turns() -> None:
    turns = [
        turn(1.0, 1.0),
        turn(2.0, 2.0),
        turn(3.0, 3.0),
        turn(4.0, None),
        turn(5.0, 0.8, barge_in=True, barge_in_stop=0.2, barge_in_pause=0.1),
        turn(6.0, 0.6, barge_in=True, barge_in_stop=0.4),
        turn(7.0, 0.7, barge_in=True, agent_metrics={"loop_lag_max": 0.3}),
    ]
    turns[0]["agent_metrics"] = {"loop_lag_max": 0.01}
    s = summarize_turns(turns)
    assert s["turns"] == 7
    assert s["voice_to_voice_n"] == 6
    assert s["voice_to_voice_p50_ms"] == pytest.approx(900.0)
    assert s["voice_to_voice_p95_ms"] == pytest.approx(2750.0)
    assert s["voice_to_voice_max_ms"] == pytest.approx(3000.0)
    low, high = s["voice_to_voice_p95_spread_ms"]
    assert 600.0 <= low < 2750.0 < high <= 3000.0
    assert s["barge_in_turns"] == 3
    assert s["barge_in_n"] == 2
    assert s["barge_in_stop_p50_ms"] == pytest.approx(300.0)
    assert s["barge_in_stop_p95_ms"] == pytest.approx(390.0)
    assert s["barge_in_pause_p50_ms"] == pytest.approx(100.0)  # only one turn reported it
    assert s["loop_lag_p50_ms"] == pytest.approx(155.0)  # the two turns that carry it
    assert s["loop_lag_p95_ms"] == pytest.approx(285.5)
    assert s["missed"] == 1
    assert s["missed_rate"] == pytest.approx(1 / 7)

    empty = summarize_turns([])
    assert (
        empty["turns"] == 0
        and empty["missed_rate"] is None
        and empty["voice_to_voice_p95_ms"] is None
        and empty["voice_to_voice_p95_spread_ms"] is None
    )


def test_steps_select_turns_in_their_window() -> None:
    run = make_run([(2, [0.5, 0.7]), (4, [0.9, 1.1, 1.3])])
    # On the boundary: a turn at exactly t=10 belongs to the second step, not the first.
    run["turns"].append(turn(10.0, 2.0))
    run["turns"].append(turn(9.99, 0.1))
    run["turns"].append(turn(25.0, 9.0))  # after the last step: in none
    steps = summarize_steps(run)
    assert [s["concurrent"] for s in steps] == [2, 4]
    assert [s["turns"] for s in steps] == [3, 4]
    assert steps[0]["voice_to_voice_p50_ms"] == pytest.approx(500.0)
    assert steps[0]["voice_to_voice_max_ms"] == pytest.approx(700.0)
    assert steps[1]["voice_to_voice_p50_ms"] == pytest.approx(1200.0)
    assert steps[1]["voice_to_voice_max_ms"] == pytest.approx(2000.0)
    # Process figures come from the samples in the window only.
    assert steps[0]["worker_cpu"] == pytest.approx(20.0)
    assert steps[1]["worker_cpu"] == pytest.approx(40.0)
    assert steps[1]["machine_cpu"] == pytest.approx(60.0)
    assert steps[1]["cpu"] == {"worker": pytest.approx(40.0)}
    assert steps[0]["worker_rss_mb"] == pytest.approx(390.0)
    assert steps[1]["processes"]["worker"]["samples"] == 10


def test_capacity_stops_where_p95_crosses_the_budget() -> None:
    ok = [0.6] * 19 + [0.9]
    slow = [0.8] * 18 + [1.4, 1.5]
    run = make_run([(2, ok), (4, ok), (6, slow), (8, slow)], budget_ms=1000.0)
    verdict = capacity(run)
    assert verdict["max_concurrent"] == 4
    assert verdict["calls_per_core"] == pytest.approx(2.0)
    assert verdict["cpu_count"] == 2
    failure = verdict["first_failure"]
    assert failure["concurrent"] == 6
    assert "p95 voice-to-voice" in failure["reason"] and "budget 1000 ms" in failure["reason"]
    assert [s["passed"] for s in verdict["steps"]] == [True, True, False, False]


def test_capacity_fails_a_step_with_a_dropped_call() -> None:
    ok = [0.6] * 20
    calls = [
        {"call": 0, "room": "load-0", "join_time": 0.4, "dropped": False, "error": None,
         "turns_done": 9, "started_at": 0.1, "ended_at": 39.0},
        {"call": 5, "room": "load-5", "join_time": 0.5, "dropped": True, "error": "disconnected",
         "turns_done": 2, "started_at": 20.2, "ended_at": 27.5},
    ]  # fmt: skip
    run = make_run([(2, ok), (4, ok), (6, ok), (8, ok)], calls=calls)
    steps = summarize_steps(run)
    assert [s["dropped"] for s in steps] == [0, 0, 1, 0]
    verdict = capacity(run)
    assert verdict["max_concurrent"] == 4
    assert verdict["first_failure"]["concurrent"] == 6
    assert "1 call(s) dropped" in verdict["first_failure"]["reason"]
    # A pass above a failing level is not capacity.
    assert verdict["steps"][3]["passed"]


def test_capacity_missed_turns_and_unmeasured_levels() -> None:
    missed = [0.5] * 97 + [None] * 3
    run = make_run([(2, [0.5] * 100), (4, missed), (6, [])], budget_ms=None)
    verdict = capacity(run)
    assert verdict["max_concurrent"] == 2
    assert verdict["first_failure"]["concurrent"] == 4
    assert "3/100 turns missed" in verdict["first_failure"]["reason"]
    assert "no voice-to-voice" in " ".join(verdict["steps"][2]["why"])

    nothing = capacity(make_run([(2, [2.0] * 10)], budget_ms=500.0))
    assert nothing["max_concurrent"] is None and nothing["calls_per_core"] is None


def test_rss_per_call_is_the_slope_across_steps() -> None:
    run = make_run([(2, [0.5]), (4, [0.5]), (8, [0.5]), (12, [0.5])], worker_mb=(250.0, 37.5))
    assert rss_per_call(run) == pytest.approx(37.5)
    assert rss_per_call(make_run([(4, [0.5])])) is None
    run["config"]["worker_process"] = "agent"
    run["processes"]["agent"] = run["processes"].pop("worker")
    assert rss_per_call(run) == pytest.approx(37.5)


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_SIGNATURE and len(data) > 5000


def test_write_report_writes_every_file(tmp_path: Path) -> None:
    ok = [0.6, 0.7, 0.8, 0.9] * 5
    run = make_run([(2, ok), (4, ok), (6, [1.2] * 20)], budget_ms=1000.0)
    run["turns"][3]["barge_in"] = True
    run["turns"][3]["barge_in_stop"] = 0.31
    paths = write_report(run, tmp_path / "out")
    plots = ["latency_cdf.png", "capacity.png", "resources.png"]
    assert set(paths) == {"report.json", "summary.md", *plots}
    for name in plots:
        assert paths[name] == tmp_path / "out" / name
        assert _is_png(paths[name]), name

    report = json.loads(paths["report.json"].read_text())
    assert report["turns"] == run["turns"]
    assert report["processes"] == run["processes"]
    summary = report["summary"]
    assert summary["capacity"]["max_concurrent"] == 4
    assert [s["concurrent"] for s in summary["steps"]] == [2, 4, 6]
    assert summary["rss_per_call_mb"] == pytest.approx(45.0)
    assert summary["turns"]["turns"] == 60
    assert summary["turns"]["barge_in_n"] == 1

    md = paths["summary.md"].read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split("|")[1].strip() for r in rows] == ["2", "4", "6"]
    assert "| 6 | 20 | 1200 | 1200 (1200-1200) | 1200 |" in md
    assert "**4 concurrent calls** (2.00 per core on 2 cores)" in md
    assert "First failing step: 6 calls" in md
    assert "RSS per additional concurrent call: 45.0 MB" in md
    assert "- providers: `" in md
    for name in plots:
        assert f"]({name})" in md


def test_soak_growth_and_single_step(tmp_path: Path) -> None:
    run = make_run([(4, [0.7] * 30)], budget_ms=None)
    run["mode"] = "soak"
    for s in run["processes"]["worker"]:
        s["rss_bytes"] = int((400 + 0.01 * s["t"]) * MIB)  # 36 MB/hour
    paths = write_report(run, tmp_path)
    assert "capacity.png" not in paths
    assert _is_png(paths["latency_cdf.png"]) and _is_png(paths["resources.png"])
    summary = json.loads(paths["report.json"].read_text())["summary"]
    assert summary["processes"]["worker"]["rss_growth_mb_per_hour"] == pytest.approx(36.0, rel=1e-3)
    assert "| 36.0 |" in paths["summary.md"].read_text()


def test_empty_run_writes_without_error(tmp_path: Path) -> None:
    run = {
        "mode": "fixed",
        "started_at": "2026-11-22T01:00:00Z",
        "config": {},
        "budget_ms": None,
        "calls": [{"call": 0, "room": "load-0", "join_time": None, "dropped": False,
                   "error": None, "turns_done": 0, "started_at": 0.2, "ended_at": None}],
        "turns": [],
        "steps": [{"concurrent": 1, "since": 0.0, "until": 1.5}],
        "processes": {"worker": [], "machine": []},
        "marks": [],
    }  # fmt: skip
    paths = write_report(run, tmp_path)
    assert set(paths) == {"report.json", "summary.md"}
    summary = json.loads(paths["report.json"].read_text())["summary"]
    assert summary["turns"]["turns"] == 0
    assert summary["steps"][0]["voice_to_voice_p95_ms"] is None
    assert "| 1 | 0 | - | - |" in paths["summary.md"].read_text()

    # Stale plots of an earlier run in the same folder do not survive.
    full = write_report(make_run([(2, [0.5]), (4, [0.6])]), tmp_path / "again")
    assert "capacity.png" in full
    write_report({}, tmp_path / "again")
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["report.json", "summary.md"]


def test_resources_plot_without_turns(tmp_path: Path) -> None:
    run = make_run([(2, [])])
    paths = write_report(run, tmp_path)
    assert set(paths) == {"report.json", "summary.md", "resources.png"}
    assert _is_png(paths["resources.png"])


def test_format_progress() -> None:
    turns = [turn(1.0, 1.0), turn(2.0, 1.04), turn(3.0, None), turn(4.0, 1.31)]
    line = format_progress(12.34, 8, 8, turns, 0)
    assert (
        line == "  12.3 s  calls up 8/8  turns 4  v2v p50 1040 ms p95 1283 ms  missed 1  dropped 0"
    )
    assert format_progress(0.5, 0, 8, [], 2) == (
        "   0.5 s  calls up 0/8  turns 0  v2v p50 - ms p95 - ms  missed 0  dropped 2"
    )


def _with_config(run: dict[str, Any], hold_ms: float) -> dict[str, Any]:
    run["config"] = {**run["config"], "hold_ms": hold_ms, "provider_latency_ms": 600.0}
    return run


def test_comparison_figures_and_ratios(tmp_path: Path) -> None:
    # ours: 2 and 4 calls pass (0.9-0.95 s), 6 fails; the peer: 2 passes, 4 fails (1.5 s)
    ours = _with_config(
        make_run([(2, [0.9] * 20), (4, [0.95] * 20), (6, [1.5] * 20)], worker_mb=(300, 10)),
        hold_ms=250,
    )
    peer = _with_config(
        make_run([(2, [0.95] * 20), (4, [1.5] * 20)], worker_mb=(500, 100)), hold_ms=550
    )
    comparison = compare_runs({"ours": ours, "peer": peer})
    mine, theirs = comparison["figures"]["ours"], comparison["figures"]["peer"]
    assert (mine["max_concurrent"], theirs["max_concurrent"]) == (4, 2)
    # CPU and RSS are read at the busiest passing step: 10 % per call in both made-up runs
    assert (mine["at_calls"], theirs["at_calls"]) == (4, 2)
    assert mine["worker_cpu_per_call"] == pytest.approx(10.0)
    assert theirs["worker_rss_mb"] == pytest.approx(700.0)
    assert mine["rss_per_call_mb"] == pytest.approx(10.0)
    # overhead: p50 minus hold minus providers
    assert mine["overhead_p50_ms"] == pytest.approx(mine["voice_to_voice_p50_ms"] - 850.0)
    ratios = comparison["ratios"]["peer"]
    assert comparison["baseline"] == "ours"
    assert ratios["max_concurrent"] == pytest.approx(2.0)
    assert ratios["rss_per_call_mb"] == pytest.approx(0.1)
    assert ratios["barge_in_stop_p50_ms"] is None  # neither measured one

    paths = write_comparison({"ours": ours, "peer": peer}, tmp_path, "2 to 6 calls")
    assert json.loads(paths["compare.json"].read_text())["ratios"]["peer"]["max_concurrent"] == 2
    text = paths["compare.md"].read_text()
    assert "| capacity, calls | 4 | 2 |" in text
    assert "| capacity, calls | 2.00 |" in text
    assert "barge-in stop p50" not in text.split("Ratios")[1]  # rows without a ratio are left out


def test_cpu_per_call_is_compared_at_the_same_load() -> None:
    # ours passes 2, 4 and 6 calls at 12 % a call; the peer passes 2 and 4 at 10 % and fails 6:
    # each one's busiest passing step compares 6 calls with 4, the equal-load figure both at 6
    ours = make_run([(2, [0.9] * 20), (4, [0.9] * 20), (6, [0.9] * 20)], cpu_per_call=12.0)
    peer = make_run([(2, [0.9] * 20), (4, [0.9] * 20), (6, [3.0] * 20)], cpu_per_call=10.0)
    comparison = compare_runs({"ours": ours, "peer": peer})
    mine, theirs = comparison["figures"]["ours"], comparison["figures"]["peer"]
    assert (mine["at_calls"], theirs["at_calls"]) == (6, 4)
    assert mine["equal_load_calls"] == theirs["equal_load_calls"] == 6
    assert mine["worker_cpu_per_call_equal_load"] == pytest.approx(12.0)
    assert comparison["ratios"]["peer"]["worker_cpu_per_call_equal_load"] == pytest.approx(1.2)
    text = format_comparison(comparison)
    assert "| agent CPU % per call, equal load | 1.20 |" in text
    assert "| equal load, calls | 6 | 6 |" in text


def test_rss_kept_per_ended_call() -> None:
    # a redialling soak: one call ends every 10 s and the worker keeps 2 MB of each
    run = make_run([(2, [0.9] * 4)] * 6, worker_mb=(300, 0))
    worker = run["processes"]["worker"]
    for s in worker:
        s["rss_bytes"] = (300 + 2 * (s["t"] // 10)) * MIB
    run["calls"] = [{"call": i, "ended_at": 10.0 * (i + 1), "dropped": False} for i in range(5)]
    assert rss_growth_per_call(run) == pytest.approx(2.0)
    assert "RSS kept per ended call: 2.00 MB (5 calls ended)" in format_markdown(
        run, summarize_run(run), {}
    )
    run["calls"] = run["calls"][:2]  # too few calls to tell
    assert rss_growth_per_call(run) is None


def test_baseline_budget_is_the_first_steps_p95_plus_the_margin() -> None:
    run = make_run([(2, [1.4] * 20), (4, [1.45] * 20), (6, [1.6] * 20)], budget_ms=None)
    run["baseline_margin_ms"] = 100.0
    cap = capacity(run)
    assert cap["budget_ms"] == pytest.approx(1500.0)
    assert cap["max_concurrent"] == 4 and cap["first_failure"]["concurrent"] == 6
