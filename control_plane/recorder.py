"""A call's record, written by the worker as the call happens.

Each final message is stored when it is said, so a worker that dies mid-call loses at most
the turn in flight; a heartbeat (`last_seen_at`) lets the control plane's reaper fail calls
whose worker is gone. Writes go through one queue per call, in order, off the audio path:
a slow database never delays the conversation, and a failing one only costs the record.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.pool import NullPool

from .store.db import create_engine, session_factory
from .store.models import Conversation, ConversationMessage, utcnow
from .webhooks import enqueue

logger = logging.getLogger("control_plane.recorder")

HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True)
class CallIdentity:
    conversation_id: str
    company_id: uuid.UUID
    agent_id: uuid.UUID
    user_id: str


class ConversationRecorder:
    def __init__(
        self,
        database_url: str,
        call: CallIdentity,
        room_name: str,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.call = call
        self.room_name = room_name
        self.heartbeat = heartbeat
        self._engine = create_engine(database_url, poolclass=NullPool)
        self._sessions = session_factory(self._engine)
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._turns: list[dict[str, float]] = []

    async def start(self) -> None:
        """Mark the call started (creating its record if the API did not)."""
        await self._write("start", {})
        self._writer = asyncio.create_task(self._drain(), name="conversation-writer")
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="conversation-heartbeat")

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

    def event(self, name: str, data: dict[str, Any]) -> None:
        """Report another event of the call (e.g. `error.occurred`) to the webhooks."""
        self._queue.put_nowait(("event", {"name": name, "data": data}))

    async def finish(self, *, status: str, reason: str) -> None:
        """Write what is queued, then the end of the call."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        self._queue.put_nowait(None)
        if self._writer is not None:
            await self._writer
        await self._write("finish", {"status": status, "reason": reason})
        await self._engine.dispose()

    async def _drain(self) -> None:
        while (item := await self._queue.get()) is not None:
            await self._write(*item)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            self._queue.put_nowait(("beat", {}))

    async def _write(self, kind: str, values: dict[str, Any]) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await getattr(self, f"_{kind}")(session, **values)
        except Exception as exc:  # the call goes on; only its record suffers
            logger.warning("could not record %s of %s: %s", kind, self.call.conversation_id, exc)

    async def _start(self, session) -> None:
        now = utcnow()
        row = await session.get(Conversation, self.call.conversation_id)
        if row is None:
            row = Conversation(
                id=self.call.conversation_id,
                company_id=self.call.company_id,
                agent_id=self.call.agent_id,
                user_id=self.call.user_id,
                room_name=self.room_name,
                created_at=now,
                metrics={},
            )
            session.add(row)
        row.status = "ongoing"
        row.started_at = now
        row.last_seen_at = now
        await enqueue(session, self.call.company_id, "conversation.started", self._ids())

    async def _message(self, session, **values: Any) -> None:
        session.add(ConversationMessage(conversation_id=self.call.conversation_id, **values))
        await self._beat(session)
        data = {
            **self._ids(),
            "speaker": values["speaker"],
            "text": values["text"],
            "interrupted": values["interrupted"],
        }
        await enqueue(session, self.call.company_id, "message.received", data)

    async def _event(self, session, *, name: str, data: dict[str, Any]) -> None:
        await enqueue(session, self.call.company_id, name, {**self._ids(), **data})

    def _ids(self) -> dict[str, Any]:
        return {
            "conversation_id": self.call.conversation_id,
            "agent_id": str(self.call.agent_id),
            "user_id": self.call.user_id,
        }

    async def _beat(self, session) -> None:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == self.call.conversation_id)
            .values(last_seen_at=utcnow())
        )

    async def _finish(self, session, *, status: str, reason: str) -> None:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == self.call.conversation_id)
            .values(
                status=status,
                end_reason=reason,
                ended_at=utcnow(),
                last_seen_at=utcnow(),
                metrics=summarize(self._turns),
            )
        )
        row = await session.get(Conversation, self.call.conversation_id)
        duration = None
        if row is not None and row.started_at and row.ended_at:
            duration = round((row.ended_at - row.started_at).total_seconds(), 3)
        event = "conversation.ended" if status == "success" else "conversation.failed"
        data = {**self._ids(), "status": status, "end_reason": reason, "duration": duration}
        await enqueue(session, self.call.company_id, event, data)


def summarize(turns: list[dict[str, float]]) -> dict[str, Any]:
    """Per-turn latencies of a call: each turn's figures and their p50/p95 per stage."""
    stages = sorted({k for turn in turns for k in turn})
    summary: dict[str, Any] = {"turns": turns}
    for stage in stages:
        values = sorted(t[stage] for t in turns if stage in t)
        summary[stage] = {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95)}
    return summary


def percentile(ordered: list[float], q: float) -> float:
    """The value at quantile `q` of sorted, non-empty `ordered` (nearest rank)."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
