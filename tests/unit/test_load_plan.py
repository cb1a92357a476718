"""The load tester's plan: what the command line asks for, and the budget it implies."""

from __future__ import annotations

import argparse

import pytest

from simulator.load import add_arguments, plan_from
from simulator.stack import StackError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


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
