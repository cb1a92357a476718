"""The call's telemetry: what the worker sends is what callers and analytics read back."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import metrics

from shared import telemetry
from simulator.caller import MetricsInbox

FRAMEWORK = [
    metrics.EOUMetrics(
        timestamp=1.0,
        end_of_utterance_delay=0.4,
        transcription_delay=0.2,
        on_user_turn_completed_delay=0.0,
        speech_id="s1",
    ),
    metrics.STTMetrics(
        label="whisper",
        request_id="r1",
        timestamp=1.0,
        duration=0.3,
        audio_duration=1.5,
        streamed=False,
    ),
    metrics.LLMMetrics(
        label="llm",
        request_id="r2",
        timestamp=1.0,
        duration=0.9,
        ttft=0.25,
        cancelled=False,
        completion_tokens=10,
        prompt_tokens=20,
        prompt_cached_tokens=0,
        total_tokens=30,
        tokens_per_second=11.0,
        speech_id="s1",
    ),
    metrics.TTSMetrics(
        label="piper",
        request_id="r3",
        timestamp=1.0,
        ttfb=0.12,
        duration=0.5,
        audio_duration=2.0,
        cancelled=False,
        characters_count=40,
        streamed=True,
        speech_id="s1",
    ),
]


@pytest.mark.parametrize("reported", FRAMEWORK, ids=lambda m: type(m).__name__)
def test_the_frameworks_metrics_travel_whole_and_read_back_typed(reported: Any) -> None:
    # Fails when the pinned livekit-agents renames or drops a field the project reads.
    sent = telemetry.framework_metrics(reported)
    assert sent is not None and sent.type == reported.type
    kind = type(sent)
    received = telemetry.decode(sent.encode())
    assert isinstance(received, kind)
    assert received.model_dump(exclude_none=True) == sent.model_dump(exclude_none=True)
    assert received.model_extra and "timestamp" in received.model_extra  # the rest travels too


@pytest.mark.parametrize(
    "event",
    [
        telemetry.TurnMetrics(role="assistant", interrupted=False, stages={"e2e_latency": 1.1}),
        telemetry.UserStateChanged(old="listening", new="speaking", at=10.0),
        telemetry.AgentStateChanged(old="speaking", new="listening", at=11.0),
        telemetry.LoopLag(max=0.02, mean=0.001, at=12.0),
        telemetry.ProviderError(
            component="tts", provider="elevenlabs", detail="x", available=False
        ),
    ],
    ids=lambda e: e.type,
)
def test_each_event_reads_back_as_sent(event: telemetry.Event) -> None:
    assert telemetry.decode(event.encode()) == event


@pytest.mark.parametrize(
    "packet",
    [b'{"type": "something_new", "x": 1}', b"not json", b'{"type": "loop_lag"}', b"[]"],
)
def test_a_packet_this_version_cannot_read_is_none(packet: bytes) -> None:
    assert telemetry.decode(packet) is None


def test_a_provider_error_is_recorded_without_its_type_or_unset_fields() -> None:
    event = telemetry.ProviderError(
        component="llm", provider="openai", detail="down", recoverable=True
    )
    assert event.record() == {
        "component": "llm",
        "provider": "openai",
        "detail": "down",
        "recoverable": True,
    }


def test_a_callers_turn_reads_each_stage_from_its_typed_event() -> None:
    inbox = MetricsInbox()
    for t, reported in enumerate(FRAMEWORK, start=1):
        event = telemetry.framework_metrics(reported)
        assert event is not None
        inbox.items.append((float(t), event))
    inbox.items.append(
        (
            5.0,
            telemetry.TurnMetrics(
                role="assistant",
                interrupted=False,
                stages={"e2e_latency": 1.3, "llm_node_ttfs": 0.3},
            ),
        )
    )
    assert inbox.between(0.5, 6.0) == {
        "end_of_utterance_delay": 0.4,
        "transcription_delay": 0.2,
        "stt_duration": 0.3,
        "llm_ttft": 0.25,
        "tts_ttfb": 0.12,
        "agent_e2e_latency": 1.3,
        "agent_llm_node_ttfs": 0.3,
    }


def test_a_calls_latency_summary_is_stored_and_read_back() -> None:
    turns = [{"e2e_latency": 1.0, "llm_node_ttfs": 0.2}, {"e2e_latency": 2.0}]
    stored = telemetry.CallLatency.of_turns(turns).model_dump()
    assert stored["turns"] == turns
    assert stored["e2e_latency"] == {"p50": 1.0, "p95": 2.0}
    assert stored["llm_node_ttfs"] == {"p50": 0.2, "p95": 0.2}
    assert telemetry.CallLatency.stored(stored).stage_values() == {
        "e2e_latency": [1.0, 2.0],
        "llm_node_ttfs": [0.2],
    }
    assert telemetry.CallLatency.stored(None).stage_values() == {}
    assert telemetry.CallLatency.stored({"turns": [{"e2e_latency": "n/a"}]}).turns == []


def test_turn_stages_keep_numbers_only() -> None:
    assert telemetry.turn_stages({"e2e_latency": 1, "x": "y", "flag": True}) == {"e2e_latency": 1.0}
