"""Per-turn metrics published to the room, so callers can see the agent-side breakdown."""

from __future__ import annotations

import asyncio
import json
import logging

from livekit import rtc
from livekit.agents import metrics
from livekit.agents.voice import MetricsCollectedEvent

logger = logging.getLogger("agent_worker.telemetry")

METRICS_TOPIC = "agent.metrics"


class MetricsPublisher:
    """Sends each livekit-agents metric as JSON on the `agent.metrics` data topic."""

    _KINDS = (metrics.EOUMetrics, metrics.STTMetrics, metrics.LLMMetrics, metrics.TTSMetrics)

    def __init__(self, room: rtc.Room) -> None:
        self._room = room
        self._tasks: set[asyncio.Task[None]] = set()

    def on_metrics(self, ev: MetricsCollectedEvent) -> None:
        if not isinstance(ev.metrics, self._KINDS):
            return
        payload = ev.metrics.model_dump(mode="json", exclude={"metadata"})
        task = asyncio.create_task(self._send(payload), name="publish-metrics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, payload: dict[str, object]) -> None:
        if not self._room.isconnected():
            return
        try:
            await self._room.local_participant.publish_data(
                json.dumps(payload), reliable=True, topic=METRICS_TOPIC
            )
        except Exception as exc:  # the call goes on without its telemetry
            logger.debug("could not publish metrics: %s", exc)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
