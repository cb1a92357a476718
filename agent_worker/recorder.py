"""A call's record, written by the worker as the call happens.

Each final message is stored when it is said, so a worker that dies mid-call loses at most
the turn in flight; a heartbeat (`last_seen_at`) lets the control plane's reaper fail calls
whose worker is gone. Writes go through one queue per call, in order, off the audio path:
a slow database never delays the conversation, and a failing one only costs the record.

A database out of reach does not end the call: what is said waits in the queue, in order,
and is written when the database answers again (tried every few seconds; the outage is
logged once, and its end). Once the call has ended, its record waits at most
`finish_grace` seconds for the database; what could not be written by then is logged as
lost. A write that fails for another reason (not an outage) is logged and skipped.

The agent's privacy settings decide what is kept: with `zero_retention` no message text and
no recording (status and metrics only), with `delete_audio` no recording. The recording is
written to the recording store when the call ends.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from control_plane.jobs.webhooks import enqueue, enqueue_closed
from control_plane.recordings import RecordingFormat, RecordingStore, recording_key, to_mp3
from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import utcnow
from control_plane.store.outage import OutageLog, is_outage
from control_plane.store.repositories import ConversationRepository
from shared.telemetry import CallLatency

logger = logging.getLogger("agent_worker.recorder")

HEARTBEAT_SECONDS = 10.0
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
"""Waits between tries of a write while the database is out of reach (the last repeats)."""
FINISH_GRACE_SECONDS = 30.0


class _Outcome(enum.Enum):
    DONE = "done"
    """Written, or failed for good (a bad write is not tried again)."""
    RETRY = "retry"
    """The database is out of reach: try again when it answers."""


@dataclass(frozen=True)
class CallIdentity:
    conversation_id: str
    company_id: uuid.UUID
    agent_id: uuid.UUID
    user_id: str
    keep_transcript: bool = True
    """False under the agent's `zero_retention`: messages are not stored, only metrics."""
    keep_audio: bool = True
    """False under `zero_retention` or `delete_audio`: no recording is kept."""
    initial_context: dict[str, Any] = field(default_factory=dict)
    """What `POST /conversations` said of the call: in its `conversation.started` webhook
    (not under `zero_retention`)."""

    @classmethod
    def under(
        cls,
        privacy: dict[str, Any],
        *,
        conversation_id: str,
        company_id: uuid.UUID,
        agent_id: uuid.UUID,
        user_id: str,
        initial_context: dict[str, Any] | None = None,
    ) -> CallIdentity:
        """A call of an agent with these privacy settings (`schemas.PrivacySettings`)."""
        zero = bool(privacy.get("zero_retention"))
        return cls(
            conversation_id=conversation_id,
            company_id=company_id,
            agent_id=agent_id,
            user_id=user_id,
            keep_transcript=not zero,
            keep_audio=not (zero or privacy.get("delete_audio")),
            initial_context={} if zero else dict(initial_context or {}),
        )


class ConversationRecorder:
    def __init__(
        self,
        database_url: str,
        call: CallIdentity,
        room_name: str,
        *,
        store: RecordingStore | None = None,
        recording_format: RecordingFormat = "ogg",
        heartbeat: float = HEARTBEAT_SECONDS,
        finish_grace: float = FINISH_GRACE_SECONDS,
    ) -> None:
        self.call = call
        self.room_name = room_name
        self.store = store if call.keep_audio else None
        self.recording_format = recording_format
        self.heartbeat = heartbeat
        self.finish_grace = finish_grace
        self._engine = create_engine(database_url, poolclass=NullPool)
        self._sessions = session_factory(self._engine)
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._turns: list[dict[str, float]] = []
        self._ended = False
        self._beat_queued = False
        self._give_up_at: float | None = None
        """Set when the call ended: until then, writes are tried until the store answers."""
        self._outages = OutageLog(logger, f"the record of {call.conversation_id}")

    async def start(self) -> bool:
        """Mark the call started (creating its record if the API did not); False when the
        call was already ended through the API, and must not go on. With the database out of
        reach the call goes on, and is marked started when it answers."""
        started = {"at": utcnow()}
        if await self._write("start", started) is _Outcome.RETRY:
            self._queue.put_nowait(("start", started))
        if self._ended:
            await self._engine.dispose()
            return False
        self._writer = asyncio.create_task(self._drain(), name="conversation-writer")
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="conversation-heartbeat")
        return True

    def message(
        self,
        *,
        speaker: str,
        text: str,
        interrupted: bool,
        created_at: float,
        metrics: dict[str, float],
    ) -> None:
        """Store one final message (in the background, in order)."""
        if metrics:
            self._turns.append(metrics)
        self._queue.put_nowait(
            (
                "message",
                {
                    "speaker": speaker,
                    "text": text,
                    "interrupted": interrupted,
                    "created_at": datetime.fromtimestamp(created_at, UTC),
                    "metrics": metrics,
                },
            )
        )

    def tool(self, use: dict[str, Any]) -> None:
        """Record one tool call on the conversation (`agent.tools.tool_use`, its content
        already kept or left out by the agent's privacy) and fire `tool.executed` or
        `tool.failed`."""
        self._queue.put_nowait(("tool", {"use": use}))

    def event(self, name: str, data: dict[str, Any]) -> None:
        """Report another event of the call (e.g. `error.occurred`) to the webhooks."""
        self._queue.put_nowait(("event", {"name": name, "data": data}))

    async def transfer(self, to: str) -> None:
        """Record where the call is handed over to, at once (the phone provider asks for it
        as soon as the agent leaves)."""
        await self._write("transfer", {"to": to})

    async def finish(self, *, status: str, reason: str, recording: Path | None = None) -> None:
        """Store the call's recording (Ogg/Opus at `recording`), then write what is queued
        and the end of the call, waiting at most `finish_grace` s for an unreachable store."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        key = None
        if self.store is not None and recording is not None:
            key = await asyncio.to_thread(self._store_recording, self.store, recording)
        self._give_up_at = time.monotonic() + self.finish_grace
        self._queue.put_nowait(("finish", {"status": status, "reason": reason, "recording": key}))
        self._queue.put_nowait(None)
        if self._writer is None:  # not started: only the end is written
            self._writer = asyncio.create_task(self._drain(), name="conversation-writer")
        await self._writer
        await self._engine.dispose()

    def _store_recording(self, store: RecordingStore, source: Path) -> str | None:
        try:
            if not source.is_file() or source.stat().st_size == 0:
                logger.warning("no recording of %s was made", self.call.conversation_id)
                return None
            if self.recording_format == "mp3":
                target = source.with_suffix(".mp3")
                to_mp3(source, target)
                source = target
            key = recording_key(self.call.conversation_id, self.recording_format)
            store.put(key, source)
            return key
        except Exception as exc:  # the record is still written, without audio
            logger.warning("recording of %s not stored: %s", self.call.conversation_id, exc)
            return None

    async def _drain(self) -> None:
        while (item := await self._queue.get()) is not None:
            kind, values = item
            if kind == "beat":
                self._beat_queued = False
            tries = 0
            while await self._write(kind, values) is _Outcome.RETRY:
                if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                    self._give_up(kind)
                    return
                await asyncio.sleep(RETRY_SECONDS[min(tries, len(RETRY_SECONDS) - 1)])
                tries += 1

    def _give_up(self, kind: str) -> None:
        """The call is over and the database still out of reach: say what is lost."""
        left = [kind] + [item[0] for item in self._drain_queue()]
        logger.error(
            "the database is still unreachable %.0f s after the call %s ended: its record "
            "misses %d message(s) and its end",
            self.finish_grace,
            self.call.conversation_id,
            left.count("message"),
        )

    def _drain_queue(self) -> list[tuple[str, dict[str, Any]]]:
        items = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                items.append(item)
        return items

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            if not self._beat_queued:  # while the store is out, one beat waits, not many
                self._beat_queued = True
                self._queue.put_nowait(("beat", {}))

    async def _write(self, kind: str, values: dict[str, Any]) -> _Outcome:
        try:
            async with self._sessions() as session, session.begin():
                await self._writers[kind](self, session, **values)
        except Exception as exc:  # the call goes on; only its record suffers
            self._outages.failed(exc)
            return _Outcome.RETRY if is_outage(exc) else _Outcome.DONE
        self._outages.succeeded()
        return _Outcome.DONE

    def _conversations(self, session: AsyncSession) -> ConversationRepository:
        return ConversationRepository(session)

    async def _start(self, session: AsyncSession, *, at: datetime) -> None:
        conversations = self._conversations(session)
        row = await conversations.get(
            company_id=self.call.company_id, conversation_id=self.call.conversation_id
        )
        if row is not None and row.end_requested_at is not None:
            self._ended = True  # ended through the API before the agent joined
            return
        if row is None:
            row = await conversations.create(
                id=self.call.conversation_id,
                company_id=self.call.company_id,
                agent_id=self.call.agent_id,
                user_id=self.call.user_id,
                room_name=self.room_name,
            )
        row.status = "ongoing"
        row.started_at = at
        row.last_seen_at = utcnow()
        started = {**self._ids(), "initial_context": self.call.initial_context}
        await enqueue(session, self.call.company_id, "conversation.started", started)

    async def _message(self, session: AsyncSession, **values: Any) -> None:
        if self.call.keep_transcript:
            self._conversations(session).add_message(
                conversation_id=self.call.conversation_id, **values
            )
        await self._beat(session)
        data = {
            **self._ids(),
            "speaker": values["speaker"],
            "text": values["text"] if self.call.keep_transcript else None,
            "interrupted": values["interrupted"],
        }
        await enqueue(session, self.call.company_id, "message.received", data)

    async def _tool(self, session: AsyncSession, *, use: dict[str, Any]) -> None:
        await self._conversations(session).add_tool_use(
            company_id=self.call.company_id, conversation_id=self.call.conversation_id, use=use
        )
        event = "tool.executed" if use["status"] == "success" else "tool.failed"
        await enqueue(session, self.call.company_id, event, {**self._ids(), **use})

    async def _transfer(self, session: AsyncSession, *, to: str) -> None:
        row = await self._conversations(session).get(
            company_id=self.call.company_id, conversation_id=self.call.conversation_id
        )
        if row is not None:
            row.transfer_to = to

    async def _event(self, session: AsyncSession, *, name: str, data: dict[str, Any]) -> None:
        await enqueue(session, self.call.company_id, name, {**self._ids(), **data})

    def _ids(self) -> dict[str, Any]:
        return {
            "conversation_id": self.call.conversation_id,
            "agent_id": str(self.call.agent_id),
            "user_id": self.call.user_id,
        }

    async def _beat(self, session: AsyncSession) -> None:
        await self._conversations(session).touch(
            company_id=self.call.company_id, conversation_id=self.call.conversation_id
        )

    async def _finish(
        self, session: AsyncSession, *, status: str, reason: str, recording: str | None
    ) -> None:
        row = await self._conversations(session).get(
            company_id=self.call.company_id, conversation_id=self.call.conversation_id
        )
        if row is None:
            return  # deleted during the call
        if row.end_requested_at is not None and row.status != "ongoing":
            return  # ended through the API before the agent joined
        if row.end_requested_at is not None:
            status, reason = "success", "ended_by_api"
        elif row.transfer_to is not None:  # handed over, by the agent or through the API
            status, reason = "success", "transferred"
        row.status, row.end_reason = status, reason
        row.ended_at = row.last_seen_at = utcnow()
        row.metrics = CallLatency.of_turns(self._turns).model_dump()
        row.recording = recording
        await enqueue_closed(session, row)

    _writers: ClassVar[dict[str, Callable[..., Awaitable[None]]]] = {
        "start": _start,
        "message": _message,
        "event": _event,
        "tool": _tool,
        "transfer": _transfer,
        "beat": _beat,
        "finish": _finish,
    }
    """What each kind of queued item writes."""
