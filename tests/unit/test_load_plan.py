"""The load tester's plan: what the command line asks for, and the budget it implies."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agent.contract import AgentConfig
from simulator.load import (
    add_arguments,
    assign_workers,
    describe,
    plan_from,
    summed_series,
    worker_env,
)
from simulator.stack import ManagedProcess, StackError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_load_test_runs_the_turn_detection_users_get() -> None:
    shipped = AgentConfig().turn_detection
    for argv in ([], ["--providers", "local"], ["--compare", "ours", "bare"]):
        plan = plan_from(parse(*argv))
        assert (plan.vad, plan.hold) == (shipped.vad, shipped.min_silence_duration), argv
        assert plan.agent().turn_detection.vad == shipped.vad
    asked = plan_from(parse("--vad", "webrtc", "--hold", "0.4"))
    assert (asked.vad, asked.hold) == ("webrtc", 0.4)


def test_network_budget_is_hold_plus_providers_plus_margin() -> None:
    plan = plan_from(parse("--capacity"))
    # hold 600 ms (the endpointing delay runs inside it) + STT 150 + LLM 300 + TTS 150 + 100
    assert plan.default_budget_ms() == pytest.approx(1300.0)
    assert not plan.budget_from_baseline


def test_embedded_engines_are_budgeted_against_their_first_step() -> None:
    plan = plan_from(parse("--capacity", "--providers", "local"))
    assert plan.providers.latency_ms == 0
    assert plan.budget_from_baseline
    assert plan.default_budget_ms() is None


def test_an_explicit_budget_wins() -> None:
    plan = plan_from(parse("--capacity", "--providers", "local", "--budget-ms", "2500"))
    assert not plan.budget_from_baseline
    assert plan.default_budget_ms() == 2500.0


def test_comparisons_use_the_baseline_and_need_network_providers() -> None:
    assert plan_from(parse("--compare", "ours", "pipecat")).budget_from_baseline
    with pytest.raises(StackError, match="network providers only"):
        plan_from(parse("--compare", "ours", "pipecat", "--providers", "local"))


def test_redial_needs_a_duration() -> None:
    with pytest.raises(StackError, match="--redial-after needs --duration"):
        plan_from(parse("--redial-after", "4"))
    plan = plan_from(parse("--soak", "--duration", "60", "--redial-after", "4"))
    assert plan.call_turns == 4 and plan.turns is None


def test_several_workers_share_the_agent_name_and_are_summed_as_the_worker() -> None:
    assert plan_from(parse()).worker_names() == ["worker"]
    plan = plan_from(parse("--capacity", "--workers", "2", "--worker-max-calls", "4"))
    assert plan.workers == 2 and plan.worker_max_calls == 4
    assert plan.worker_names() == ["worker-1", "worker-2"]
    assert worker_env(plan)["WORKER_MAX_CALLS"] == "4"
    assert "2 workers" in describe(plan)
    samples = [
        [{"t": 1.0, "cpu_percent": 10.0, "rss_bytes": 100, "processes": 1}],
        [
            {"t": 1.0, "cpu_percent": 20.5, "rss_bytes": 50, "processes": 2},
            {"t": 2.0, "cpu_percent": 5.0, "rss_bytes": 60, "processes": 2},
        ],
    ]
    assert summed_series(samples) == [
        {"t": 1.0, "cpu_percent": 30.5, "rss_bytes": 150, "processes": 3},
        {"t": 2.0, "cpu_percent": 5.0, "rss_bytes": 60, "processes": 2},
    ]


def test_workers_are_ours_only_and_at_least_one() -> None:
    with pytest.raises(StackError, match="at least 1"):
        plan_from(parse("--workers", "0"))
    with pytest.raises(StackError, match="our worker only"):
        plan_from(parse("--workers", "2", "--runtime", "bare"))
    # without a limit, one worker would accept every call the test places
    assert int(worker_env(plan_from(parse("--capacity")))["WORKER_MAX_CALLS"]) > 64


def test_calls_are_counted_and_marked_by_the_rooms_each_worker_logs(tmp_path: Path) -> None:
    logs = {
        "worker-1": '{"message": "received job request", "room": "call-aaa"}\n'
        '{"message": "call job started", "room": "call-aaa"}\n'
        '{"message": "received job request", "room": "call-ccc"}\n',
        "worker-2": '{"message": "received job request", "room": "call-bbb"}\n',
    }
    workers = []
    for name, text in logs.items():
        (tmp_path / f"{name}.log").write_text(text)
        workers.append(ManagedProcess(name, ["true"], tmp_path / f"{name}.log", {}))
    # call-ccc's caller was stopped before its call ended: its room is not in the run's calls
    calls = [{"room": "call-aaa"}, {"room": "call-bbb"}, {"room": None}]
    assert assign_workers(calls, workers) == {"worker-1": 2, "worker-2": 1}
    assert [c["worker"] for c in calls] == ["worker-1", "worker-2", None]
