"""The telemetry a call publishes, as typed events: one definition for the worker that sends
them, the callers and benchmarks that read them, and the analytics over stored calls.

The worker sends each event as JSON on the room's `agent.metrics` data topic; `decode` turns a
packet back into its event (or None for a packet of another kind or version). The framework's
own metrics (`eou_metrics`, `stt_metrics`, `llm_metrics`, `tts_metrics`) travel with every field
livekit-agents gives them; the models name the fields this project reads.

A call's stored latency summary (`CallLatency`) is the per-turn stage figures the worker
recorded, with their p50/p95 per stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .stats import percentile

METRICS_TOPIC = "agent.metrics"
"""The data topic of the room the worker publishes its telemetry on."""


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def encode(self) -> str:
        """The event as sent on `METRICS_TOPIC`."""
        return self.model_dump_json(exclude_none=True)


class FrameworkMetrics(Event):
    """livekit-agents' metrics carry more than is read here; they travel whole."""

    model_config = ConfigDict(extra="allow", frozen=True)
    speech_id: str | None = None


class EouMetrics(FrameworkMetrics):
    """End of the caller's turn: how long after they stopped the turn was decided."""

    type: Literal["eou_metrics"] = "eou_metrics"
    end_of_utterance_delay: float
    transcription_delay: float


class SttMetrics(FrameworkMetrics):
    type: Literal["stt_metrics"] = "stt_metrics"
    duration: float
    audio_duration: float = 0.0


class LlmMetrics(FrameworkMetrics):
    type: Literal["llm_metrics"] = "llm_metrics"
    ttft: float


class TtsMetrics(FrameworkMetrics):
    type: Literal["tts_metrics"] = "tts_metrics"
    ttfb: float


class TurnMetrics(Event):
    """The latencies livekit-agents attaches to one finished message: `stages` holds them by
    name (`e2e_latency`, `llm_node_ttfs`, `transcription_delay`, ...), seconds."""

    type: Literal["turn_metrics"] = "turn_metrics"
    role: str
    interrupted: bool
    stages: dict[str, float] = {}

    @classmethod
    def of_message(
        cls, role: str, interrupted: bool, metrics: Mapping[str, object] | None
    ) -> TurnMetrics:
        """From a message's role, interruption and livekit-agents' `item.metrics`."""
        return cls(role=role, interrupted=interrupted, stages=turn_stages(metrics))


class UserStateChanged(Event):
    """The caller's state ("speaking", "listening", "away"), with the worker's wall-clock time
    of the change: a caller on the worker's host can time the agent's reaction by it."""

    type: Literal["user_state"] = "user_state"
    old: str
    new: str
    at: float


class AgentStateChanged(Event):
    """The agent's state ("initializing", "listening", "thinking", "speaking"), as above."""

    type: Literal["agent_state"] = "agent_state"
    old: str
    new: str
    at: float


StateChanged: TypeAlias = UserStateChanged | AgentStateChanged


class LoopLag(Event):
    """How late the call's event loop ran what was due over the last report period: the worst
    and the mean lateness (seconds), at the worker's wall-clock time."""

    type: Literal["loop_lag"] = "loop_lag"
    max: float
    mean: float
    at: float


ERROR_EVENT: Final = "error.occurred"
"""The event's name on the room's topic, in the call's record and for webhooks."""


class ProviderError(Event):
    """A provider failed (and the call fell back to the next), recovered, or the session
    reported an error."""

    type: Literal["error.occurred"] = "error.occurred"
    component: str
    provider: str
    detail: str
    available: bool | None = None
    """Set for a fallback provider's change of availability."""
    recoverable: bool | None = None
    """Set for an error the session reported."""

    def record(self) -> dict[str, Any]:
        """The event's data in the call's record and webhooks (without the `type`)."""
        return self.model_dump(exclude={"type"}, exclude_none=True)


TelemetryEvent: TypeAlias = Annotated[
    EouMetrics
    | SttMetrics
    | LlmMetrics
    | TtsMetrics
    | TurnMetrics
    | UserStateChanged
    | AgentStateChanged
    | LoopLag
    | ProviderError,
    Field(discriminator="type"),
]

_EVENTS: TypeAdapter[TelemetryEvent] = TypeAdapter(TelemetryEvent)
_FRAMEWORK_TYPES = frozenset(
    kind.model_fields["type"].default for kind in FrameworkMetrics.__subclasses__()
)


def decode(data: bytes | str) -> TelemetryEvent | None:
    """The event in one packet of `METRICS_TOPIC`; None for anything this version does not
    know (another kind of event, a malformed packet)."""
    try:
        return _EVENTS.validate_json(data)
    except ValidationError:
        return None


def parse(payload: Mapping[str, Any]) -> TelemetryEvent | None:
    """As `decode`, from a JSON object already parsed."""
    try:
        return _EVENTS.validate_python(payload)
    except ValidationError:
        return None


def framework_metrics(reported: BaseModel) -> FrameworkMetrics | None:
    """The event sent for one of livekit-agents' metrics objects; None for a kind that is not
    sent. Kinds that are not sent (VAD metrics arrive many times a call) are told by their
    `type` alone, before anything is copied."""
    if getattr(reported, "type", None) not in _FRAMEWORK_TYPES:
        return None
    event = parse(reported.model_dump(mode="json", exclude={"metadata"}))
    return event if isinstance(event, FrameworkMetrics) else None


def turn_stages(metrics: Mapping[str, object] | None) -> dict[str, float]:
    """The numeric stage latencies of a message's metrics (livekit-agents' `item.metrics`)."""
    return {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


class StagePercentiles(BaseModel):
    p50: float | None
    p95: float | None


class CallLatency(BaseModel):
    """A call's latencies as stored with its conversation: each turn's stage figures, and
    for each stage its p50/p95 over the call's turns (by stage name, beside `turns`)."""

    model_config = ConfigDict(extra="allow")

    turns: list[dict[str, float]] = []

    @classmethod
    def of_turns(cls, turns: Sequence[Mapping[str, float]]) -> CallLatency:
        stages = sorted({k for turn in turns for k in turn})
        summary: dict[str, Any] = {}
        for stage in stages:
            values = sorted(t[stage] for t in turns if stage in t)
            summary[stage] = StagePercentiles(
                p50=percentile(values, 0.5, method="nearest"),
                p95=percentile(values, 0.95, method="nearest"),
            ).model_dump()
        return cls(turns=[dict(t) for t in turns], **summary)

    @classmethod
    def stored(cls, data: Mapping[str, Any] | None) -> CallLatency:
        """A stored summary (empty for a call without one, or one this version cannot read:
        analytics then leave the call's latencies out rather than fail)."""
        try:
            return cls.model_validate(data or {})
        except ValidationError:
            return cls()

    def stage_values(self) -> dict[str, list[float]]:
        """Every turn's figure of each stage, by stage."""
        out: dict[str, list[float]] = {}
        for turn in self.turns:
            for stage, value in turn.items():
                out.setdefault(stage, []).append(value)
        return out
