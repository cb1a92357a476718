"""Per-turn metrics published to the room, so callers can see the agent-side breakdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, llm, metrics, stt, tts
from livekit.agents.voice import (
    AgentStateChangedEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    MetricsCollectedEvent,
    UserStateChangedEvent,
)

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

    def on_state(self, ev: UserStateChangedEvent | AgentStateChangedEvent) -> None:
        """The caller's and the agent's state changes ("speaking", "listening", ...), with
        the worker's wall-clock time of the change: a client can show them, and a caller on
        the same host can tell the agent's reaction time from the media path."""
        who = "user_state" if isinstance(ev, UserStateChangedEvent) else "agent_state"
        self._spawn({"type": who, "old": ev.old_state, "new": ev.new_state, "at": ev.created_at})

    def publish(self, payload: dict[str, object]) -> None:
        """Send any JSON event on the topic (in the background)."""
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


class LoopLag:
    """How late the call's event loop runs what is due: a tick every `PERIOD`, and every
    `REPORT_EVERY` the worst and the mean lateness since, as
    `{"type": "loop_lag", "max": s, "mean": s, "at": wall}`.

    Calls are threads of one worker sharing one interpreter: this lateness is what a busy
    worker adds to everything a call does (its VAD's events, the pause on a barge-in, reading
    a provider's answer), so a load test can tell a slow provider from a crowded worker.
    """

    PERIOD = 0.05
    REPORT_EVERY = 1.0

    def __init__(self, publish: Callable[[dict[str, object]], None]) -> None:
        self._publish = publish
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        worst, total, ticks, since = 0.0, 0.0, 0, loop.time()
        while True:
            due = loop.time() + self.PERIOD
            await asyncio.sleep(self.PERIOD)
            now = loop.time()
            worst, total, ticks = max(worst, now - due), total + now - due, ticks + 1
            if now - since >= self.REPORT_EVERY:
                self._publish(
                    {
                        "type": "loop_lag",
                        "max": round(worst, 4),
                        "mean": round(total / ticks, 4),
                        "at": time.time(),
                    }
                )
                worst, total, ticks, since = 0.0, 0.0, 0, now

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


ERROR_EVENT = "error.occurred"


def watch_providers(
    session: AgentSession,
    publisher: MetricsPublisher,
    room: str,
    report: Callable[[str, dict[str, Any]], None] | None = None,
) -> None:
    """Report provider failures as `error.occurred`: a cloud provider that failed over to the
    local engine (or recovered), and errors the session itself reports. Each goes to the log,
    the room's metrics topic and `report` (the call's record and webhooks)."""

    def emit(payload: dict[str, Any]) -> None:
        publisher.publish(payload)
        if report is not None:
            report(ERROR_EVENT, {k: v for k, v in payload.items() if k != "type"})

    def availability(component: str) -> Callable[[Any], None]:
        def on_change(ev: Any) -> None:
            provider = getattr(ev, component)
            payload = {
                "type": ERROR_EVENT,
                "component": component,
                "provider": provider.label,
                "available": ev.available,
                "detail": (
                    f"{provider.label} recovered"
                    if ev.available
                    else f"{provider.label} failed; the next provider serves"
                ),
            }
            log = logger.info if ev.available else logger.warning
            log("%s: %s", ERROR_EVENT, payload["detail"], extra={"room": room, **payload})
            emit(payload)

        return on_change

    for component, part in (("stt", session.stt), ("llm", session.llm), ("tts", session.tts)):
        if isinstance(part, stt.FallbackAdapter | llm.FallbackAdapter | tts.FallbackAdapter):
            part.on(f"{component}_availability_changed", availability(component))

    def on_error(ev: ErrorEvent) -> None:
        error = ev.error
        payload = {
            "type": ERROR_EVENT,
            "component": getattr(error, "type", "session"),
            "provider": getattr(ev.source, "label", type(ev.source).__name__),
            "recoverable": bool(getattr(error, "recoverable", False)),
            "detail": str(getattr(error, "error", error)),
        }
        logger.warning("%s: %s", ERROR_EVENT, payload["detail"], extra={"room": room, **payload})
        emit(payload)

    session.on("error", on_error)
