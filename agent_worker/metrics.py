"""The worker's Prometheus metrics: its calls, their per-turn latency and provider failures.

They are served with livekit-agents' own (running jobs, load, process start times) on
`/metrics` of the worker's metrics port (`WORKER_METRICS_PORT`). Calls run as threads of the
worker process by default, so every call counts into the same process's metrics. With calls
as processes (`WORKER_EXECUTOR=process`) each call counts in its own process, which the worker
does not serve unless `PROMETHEUS_MULTIPROC_DIR` names an existing directory in its
environment: prometheus-client's multiprocess mode, which livekit-agents' metrics server reads,
then sums them. In that mode livekit-agents' own gauges of the main process (its load) are
not served: it empties the directory after the main process opened its files.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from shared.telemetry import ProviderError, TurnMetrics

TURN_STAGES: Final = {
    "end_of_turn_delay": "eou",
    "transcription_delay": "stt",
    "on_user_turn_completed_delay": "turn_hook",
    "llm_node_ttft": "llm_ttft",
    "llm_node_ttfs": "llm_ttfs",
    "tts_node_ttfb": "tts_ttfb",
    "playback_latency": "playback",
    "e2e_latency": "e2e",
}
"""The latencies livekit-agents attaches to a message (`TurnMetrics.stages`) and the `stage`
label each is observed under; the message's other figures (timestamps, tokens per second)
are not latencies."""

LATENCY_BUCKETS: Final = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
"""Seconds: a voice turn's stages run from tens of milliseconds to a few seconds."""

ACTIVE_CALLS = Gauge(
    "voice_agent_active_calls",
    "Calls this worker is running",
    multiprocess_mode="livesum",
)
CALLS_STARTED = Counter("voice_agent_calls_started_total", "Calls that started (agent joined)")
CALLS_ENDED = Counter(
    "voice_agent_calls_ended_total",
    "Calls that ended, by status and end reason (as the conversation record says)",
    ["status", "reason"],
)
TURN_LATENCY = Histogram(
    "voice_agent_turn_latency_seconds",
    "Per-turn latency of each stage, as livekit-agents measures it on each message",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER_FAILOVERS = Counter(
    "voice_agent_provider_failovers_total",
    "A cloud provider failed and the next one (the local engine) took over",
    ["kind", "provider"],
)
PROVIDER_RECOVERIES = Counter(
    "voice_agent_provider_recoveries_total",
    "A provider that had failed over serves again",
    ["kind", "provider"],
)
PROVIDER_ERRORS = Counter(
    "voice_agent_provider_errors_total",
    "Errors the session reported, by the kind of component and provider that raised them",
    ["kind", "provider"],
)

END_OF_TURN_PROBABILITY = Histogram(
    "voice_agent_end_of_turn_probability",
    "`semantic` turn detection: the end-of-turn model's probability that the caller had "
    "finished, at each pause it read",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
)
END_OF_TURN_MODEL_SECONDS = Histogram(
    "voice_agent_end_of_turn_model_seconds",
    "`semantic` turn detection: how long each prediction of the end-of-turn model took",
    buckets=LATENCY_BUCKETS,
)

TOOL_CALLS = Counter(
    "voice_agent_tool_calls_total",
    "Tool calls the agents made (HTTP, built-in, MCP), by outcome",
    ["outcome"],
)


def call_started() -> None:
    CALLS_STARTED.inc()
    ACTIVE_CALLS.inc()


def call_ended(*, status: str, reason: str) -> None:
    ACTIVE_CALLS.dec()
    CALLS_ENDED.labels(status=status, reason=reason).inc()


def turn(event: TurnMetrics) -> None:
    """Observe a finished message's stage latencies."""
    for name, seconds in event.stages.items():
        stage = TURN_STAGES.get(name)
        if stage is not None:
            TURN_LATENCY.labels(stage=stage).observe(seconds)


def provider_event(event: ProviderError) -> None:
    """Count a provider's failover, recovery or reported error."""
    labels = {"kind": event.component, "provider": event.provider}
    if event.available is None:
        PROVIDER_ERRORS.labels(**labels).inc()
    elif event.available:
        PROVIDER_RECOVERIES.labels(**labels).inc()
    else:
        PROVIDER_FAILOVERS.labels(**labels).inc()


def tool_called(name: str, ok: bool) -> None:
    """Count a tool call (not by name: tenants name their tools)."""
    TOOL_CALLS.labels(outcome="success" if ok else "failed").inc()


def end_of_turn_predicted(probability: float, seconds: float) -> None:
    END_OF_TURN_PROBABILITY.observe(probability)
    END_OF_TURN_MODEL_SECONDS.observe(seconds)
