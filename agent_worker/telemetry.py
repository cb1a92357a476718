"""Per-turn metrics published to the room, so callers can see the agent-side breakdown."""

from __future__ import annotations

import asyncio
import json
import logging

from livekit import rtc
from livekit.agents import metrics
from livekit.agents.voice import ConversationItemAddedEvent, MetricsCollectedEvent

logger = logging.getLogger("agent_worker.telemetry")

METRICS_TOPIC = "agent.metrics"


class MetricsPublisher:
    """Sends each livekit-agents metric as JSON on the `agent.metrics` data topic."""

    _KINDS = (metrics.EOUMetrics, metrics.STTMetrics, metrics.LLMMetrics, metrics.TTSMetrics)

    SEND_TIMEOUT = 5.0
    CLOSE_TIMEOUT = 1.0

    def __init__(self, room: rtc.Room) -> None:
        self._room = room
        self._tasks: set[asyncio.Task[None]] = set()

    def on_metrics(self, ev: MetricsCollectedEvent) -> None:
        if not isinstance(ev.metrics, self._KINDS):
            return
        self._spawn(ev.metrics.model_dump(mode="json", exclude={"metadata"}))

    def on_item(self, ev: ConversationItemAddedEvent) -> None:
        """Per-turn latency the framework attaches to each finished message."""
        item = ev.item
        if item.type != "message" or not item.metrics:
            return
        payload = {"type": "turn_metrics", "role": item.role, "interrupted": item.interrupted}
        payload.update({k: v for k, v in item.metrics.items() if isinstance(v, int | float)})
        self._spawn(payload)

    def _spawn(self, payload: dict[str, object]) -> None:
        task = asyncio.create_task(self._send(payload), name="publish-metrics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, payload: dict[str, object]) -> None:
        if not self._room.isconnected() or not self._room.remote_participants:
            return
        try:
            await asyncio.wait_for(
                self._room.local_participant.publish_data(
                    json.dumps(payload), reliable=True, topic=METRICS_TOPIC
                ),
                self.SEND_TIMEOUT,
            )
        except Exception as exc:  # the call goes on without its telemetry
            logger.debug("could not publish metrics: %s", exc)

    async def aclose(self) -> None:
        """Give sends in flight a short grace period; the end of the call's job does not wait
        longer for telemetry."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=self.CLOSE_TIMEOUT)
        for task in pending:
            task.cancel()
