"""The worker's metrics: a message's stage latencies land in the histogram under their stage,
and a provider's events in the counter of their kind."""

from __future__ import annotations

from prometheus_client import REGISTRY

from agent_worker import metrics
from shared.telemetry import ProviderError, TurnMetrics


def observed(stage: str) -> float:
    return (
        REGISTRY.get_sample_value("voice_agent_turn_latency_seconds_count", {"stage": stage}) or 0
    )


def test_latency_stages_are_observed_and_other_figures_are_not() -> None:
    before = {stage: observed(stage) for stage in ("e2e", "llm_ttft", "tts_ttfb")}
    metrics.turn(
        TurnMetrics.of_message(
            "assistant",
            False,
            {
                "e2e_latency": 0.9,
                "llm_node_ttft": 0.2,
                "tts_node_ttfb": 0.3,
                "llm_node_tps": 42.0,
                "started_speaking_at": 1.7e9,
            },
        )
    )
    assert {stage: observed(stage) - before[stage] for stage in before} == {
        "e2e": 1,
        "llm_ttft": 1,
        "tts_ttfb": 1,
    }
    labels = {
        sample.labels.get("stage")
        for family in REGISTRY.collect()
        if family.name == "voice_agent_turn_latency_seconds"
        for sample in family.samples
    }
    assert labels <= set(metrics.TURN_STAGES.values())


def test_a_latency_falls_in_its_bucket() -> None:
    def le(bound: str) -> float:
        sample = REGISTRY.get_sample_value(
            "voice_agent_turn_latency_seconds_bucket", {"stage": "eou", "le": bound}
        )
        return sample or 0

    below, above = le("0.3"), le("0.4")
    metrics.turn(TurnMetrics.of_message("user", False, {"end_of_turn_delay": 0.35}))
    assert (le("0.3") - below, le("0.4") - above) == (0, 1)


def test_provider_events_count_by_kind_and_provider() -> None:
    def count(name: str) -> float:
        labels = {"kind": "tts", "provider": "elevenlabs"}
        return REGISTRY.get_sample_value(f"voice_agent_provider_{name}_total", labels) or 0

    before = {name: count(name) for name in ("failovers", "recoveries", "errors")}
    for available in (False, True, None):
        metrics.provider_event(
            ProviderError(component="tts", provider="elevenlabs", detail="x", available=available)
        )
    assert {name: count(name) - before[name] for name in before} == {
        "failovers": 1,
        "recoveries": 1,
        "errors": 1,
    }
