"""Per-turn metrics published to the room, so callers can see the agent-side breakdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, llm, stt, tts
from livekit.agents.voice import (
    AgentStateChangedEvent,
    ConversationItemAddedEvent,
    ErrorEvent,
    MetricsCollectedEvent,
    UserStateChangedEvent,
)

from shared import telemetry as events
from shared.telemetry import ERROR_EVENT, METRICS_TOPIC, Event

from . import metrics

logger = logging.getLogger("agent_worker.telemetry")


class MetricsPublisher:
    """Sends the call's telemetry (`shared.telemetry`) as JSON on the room's metrics topic."""

    SEND_TIMEOUT = 5.0
    CLOSE_TIMEOUT = 1.0

    def __init__(self, room: rtc.Room) -> None:
        self._room = room
        self._tasks: set[asyncio.Task[None]] = set()

    def on_metrics(self, ev: MetricsCollectedEvent) -> None:
        event = events.framework_metrics(ev.metrics)
        if event is not None:
            self._spawn(event)

    def on_item(self, ev: ConversationItemAddedEvent) -> None:
        """Per-turn latency the framework attaches to each finished message."""
        item = ev.item
        if item.type != "message" or not item.metrics:
            return
        event = events.TurnMetrics.of_message(item.role, item.interrupted, item.metrics)
        metrics.turn(event)
        self._spawn(event)

    def on_state(self, ev: UserStateChangedEvent | AgentStateChangedEvent) -> None:
        """The caller's and the agent's state changes ("speaking", "listening", ...), with
        the worker's wall-clock time of the change: a client can show them, and a caller on
        the same host can tell the agent's reaction time from the media path."""
        kind = (
            events.UserStateChanged
            if isinstance(ev, UserStateChangedEvent)
            else events.AgentStateChanged
        )
        self._spawn(kind(old=ev.old_state, new=ev.new_state, at=ev.created_at))

    def publish(self, event: Event) -> None:
        """Send an event on the topic (in the background)."""
        self._spawn(event)

    def _spawn(self, event: Event) -> None:
        task = asyncio.create_task(self._send(event.encode()), name="publish-metrics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, payload: str) -> None:
        if not self._room.isconnected() or not self._room.remote_participants:
            return
        try:
            await asyncio.wait_for(
                self._room.local_participant.publish_data(
                    payload, reliable=True, topic=METRICS_TOPIC
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
    `REPORT_EVERY` the worst and the mean lateness since, as a `shared.telemetry.LoopLag`.

    Calls are threads of one worker sharing one interpreter: this lateness is what a busy
    worker adds to everything a call does (its VAD's events, the pause on a barge-in, reading
    a provider's answer), so a load test can tell a slow provider from a crowded worker.
    """

    PERIOD = 0.05
    REPORT_EVERY = 1.0

    def __init__(self, publish: Callable[[events.LoopLag], None]) -> None:
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
                    events.LoopLag(
                        max=round(worst, 4), mean=round(total / ticks, 4), at=time.time()
                    )
                )
                worst, total, ticks, since = 0.0, 0.0, 0, now

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def watch_providers(
    session: AgentSession,
    publisher: MetricsPublisher,
    room: str,
    report: Callable[[str, dict[str, Any]], None] | None = None,
) -> None:
    """Report provider failures as `error.occurred`: a cloud provider that failed over to the
    local engine (or recovered), and errors the session itself reports. Each goes to the log,
    the room's metrics topic and `report` (the call's record and webhooks)."""

    def emit(event: events.ProviderError) -> None:
        metrics.provider_event(event)
        publisher.publish(event)
        if report is not None:
            report(ERROR_EVENT, event.record())

    def availability(component: str) -> Callable[[Any], None]:
        def on_change(ev: Any) -> None:
            provider = getattr(ev, component)
            event = events.ProviderError(
                component=component,
                provider=provider.label,
                available=ev.available,
                detail=(
                    f"{provider.label} recovered"
                    if ev.available
                    else f"{provider.label} failed; the next provider serves"
                ),
            )
            log = logger.info if ev.available else logger.warning
            log("%s: %s", ERROR_EVENT, event.detail, extra={"room": room, **event.record()})
            emit(event)

        return on_change

    if isinstance(session.stt, stt.FallbackAdapter):
        session.stt.on("stt_availability_changed", availability("stt"))
    if isinstance(session.llm, llm.FallbackAdapter):
        session.llm.on("llm_availability_changed", availability("llm"))
    if isinstance(session.tts, tts.FallbackAdapter):
        session.tts.on("tts_availability_changed", availability("tts"))

    def on_error(ev: ErrorEvent) -> None:
        error = ev.error
        event = events.ProviderError(
            component=str(getattr(error, "type", "session")),
            provider=str(getattr(ev.source, "label", type(ev.source).__name__)),
            recoverable=bool(getattr(error, "recoverable", False)),
            detail=str(getattr(error, "error", error)),
        )
        logger.warning("%s: %s", ERROR_EVENT, event.detail, extra={"room": room, **event.record()})
        emit(event)

    session.on("error", on_error)
