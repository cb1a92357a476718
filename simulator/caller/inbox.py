"""The worker's telemetry as a caller receives it on the data channel."""

from __future__ import annotations

import logging
import time
from typing import Literal

from livekit import rtc

from shared import telemetry

logger = logging.getLogger("simulator.caller")


class MetricsInbox:
    """The worker's telemetry (`shared.telemetry`) received on the data channel, with arrival
    times."""

    def __init__(self) -> None:
        self.items: list[tuple[float, telemetry.TelemetryEvent]] = []

    def attach(self, room: rtc.Room) -> None:
        room.on("data_received", self._on_data)

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic != telemetry.METRICS_TOPIC:
            return
        event = telemetry.decode(packet.data)
        if event is None:
            logger.debug("ignoring a metrics packet of another kind")
            return
        self.items.append((time.monotonic(), event))

    def state_change(
        self,
        kind: Literal["user_state", "agent_state"],
        new: str,
        *,
        after: float,
        old: str | None = None,
    ) -> float | None:
        """When the worker reported the first `kind` (the caller's or the agent's) state change
        to `new` (from `old`) at or after `after`, on our monotonic clock. The worker stamps
        its wall clock, so this holds for a caller on the worker's host only."""
        wanted = _STATE_EVENTS[kind]
        offset = time.time() - time.monotonic()
        for _, m in self.items:
            if not isinstance(m, wanted) or m.new != new or (old and m.old != old):
                continue
            at = m.at - offset
            if at >= after:
                return at
        return None

    def agent_paused(self, *, after: float) -> float | None:
        """When the worker first paused the agent's speech at or after `after` (its state
        going from speaking to listening); same-host callers only, as `state_change`."""
        return self.state_change("agent_state", "listening", old="speaking", after=after)

    def between(self, start: float, end: float) -> dict[str, float]:
        """Agent-side breakdown of the metrics received in [start, end)."""
        out: dict[str, float] = {}
        lag_means: list[float] = []
        for t, m in self.items:
            if not start <= t < end:
                continue
            match m:
                case telemetry.EouMetrics() if "end_of_utterance_delay" not in out:
                    out["end_of_utterance_delay"] = m.end_of_utterance_delay
                    out["transcription_delay"] = m.transcription_delay
                case telemetry.SttMetrics() if m.audio_duration > 0:
                    out["stt_duration"] = m.duration
                case telemetry.TurnMetrics(role="assistant"):
                    for key in ("e2e_latency", "llm_node_ttfs"):
                        if key in m.stages and f"agent_{key}" not in out:
                            out[f"agent_{key}"] = m.stages[key]
                case telemetry.LlmMetrics() if "llm_ttft" not in out and m.speech_id:
                    out["llm_ttft"] = m.ttft
                case telemetry.TtsMetrics() if "tts_ttfb" not in out and m.ttfb >= 0:
                    out["tts_ttfb"] = m.ttfb
                case telemetry.LoopLag():
                    out["loop_lag_max"] = max(out.get("loop_lag_max", 0.0), m.max)
                    lag_means.append(m.mean)
        if lag_means:
            out["loop_lag_mean"] = sum(lag_means) / len(lag_means)
        return out


_STATE_EVENTS: dict[str, type[telemetry.StateChanged]] = {
    "user_state": telemetry.UserStateChanged,
    "agent_state": telemetry.AgentStateChanged,
}
