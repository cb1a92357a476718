"""A company's calls (conversations) and their transcripts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, Row, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ..models import Conversation, ConversationAnalysis, ConversationMessage, utcnow


class ConversationRepository:
    """A company's calls and their transcripts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **values: Any) -> Conversation:
        conversation = Conversation(created_at=utcnow(), metrics={}, **values)
        self.session.add(conversation)
        await self.session.flush()
        return conversation

    async def get(self, *, company_id: uuid.UUID, conversation_id: str) -> Conversation | None:
        return await self.session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.company_id == company_id
            )
        )

    async def list(
        self,
        *,
        company_id: uuid.UUID,
        agent_id: uuid.UUID | None = None,
        status: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
        channel: str | None = None,
        deployment_id: uuid.UUID | None = None,
        sentiment: str | None = None,
        resolution: str | None = None,
    ) -> tuple[Sequence[Conversation], int]:
        """One page of the company's conversations, newest first, and how many match
        (`sentiment` and `resolution`: their analysis's)."""
        query = select(Conversation).where(Conversation.company_id == company_id)
        if sentiment is not None or resolution is not None:
            query = query.join(
                ConversationAnalysis, ConversationAnalysis.conversation_id == Conversation.id
            )
            if sentiment is not None:
                query = query.where(ConversationAnalysis.sentiment == sentiment)
            if resolution is not None:
                query = query.where(ConversationAnalysis.resolution == resolution)
        if channel is not None:
            query = query.where(Conversation.channel == channel)
        if deployment_id is not None:
            query = query.where(Conversation.deployment_id == deployment_id)
        if agent_id is not None:
            query = query.where(Conversation.agent_id == agent_id)
        if status is not None:
            query = query.where(Conversation.status == status)
        if date_from is not None:
            query = query.where(Conversation.created_at >= date_from)
        if date_to is not None:
            query = query.where(Conversation.created_at <= date_to)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(Conversation.created_at.desc(), Conversation.id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), int(total or 0)

    async def call_counts(
        self, *, company_id: uuid.UUID, agent_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[int, int, int]]:
        """Per agent: its calls, those finished, those that succeeded (text chats left out)."""
        if not agent_ids:
            return {}
        finished = case((Conversation.status != "ongoing", 1), else_=0)
        success = case((Conversation.status == "success", 1), else_=0)
        rows = await self.session.execute(
            select(Conversation.agent_id, func.count(), func.sum(finished), func.sum(success))
            .where(
                Conversation.company_id == company_id,
                Conversation.agent_id.in_(agent_ids),
                Conversation.channel == "voice",
            )
            .group_by(Conversation.agent_id)
        )
        return {
            agent_id: (int(total), int(done or 0), int(ok or 0))
            for agent_id, total, done, ok in rows.all()
            if agent_id is not None
        }

    async def for_agent(
        self,
        *,
        company_id: uuid.UUID,
        agent_id: uuid.UUID,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> Sequence[Conversation]:
        """Every call of one agent in a period, oldest first."""
        query = select(Conversation).where(
            Conversation.company_id == company_id, Conversation.agent_id == agent_id
        )
        if date_from is not None:
            query = query.where(Conversation.created_at >= date_from)
        if date_to is not None:
            query = query.where(Conversation.created_at <= date_to)
        return (await self.session.scalars(query.order_by(Conversation.created_at))).all()

    async def messages(self, *, conversation_id: str) -> Sequence[ConversationMessage]:
        result = await self.session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(ConversationMessage.created_at, ConversationMessage.id)
        )
        return result.all()

    async def messages_page(
        self, *, conversation_id: str, offset: int, limit: int
    ) -> tuple[Sequence[ConversationMessage], int]:
        """One page of a conversation's messages, oldest first, and how many it has."""
        where = ConversationMessage.conversation_id == conversation_id
        total = await self.session.scalar(
            select(func.count()).select_from(ConversationMessage).where(where)
        )
        rows = await self.session.scalars(
            select(ConversationMessage)
            .where(where)
            .order_by(ConversationMessage.created_at, ConversationMessage.id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), int(total or 0)

    def add_message(self, *, conversation_id: str, **values: Any) -> None:
        """One message of a call's transcript (written with the session's transaction)."""
        self.session.add(ConversationMessage(conversation_id=conversation_id, **values))

    async def touch(self, *, company_id: uuid.UUID, conversation_id: str) -> None:
        """The call's heartbeat: its worker was alive now."""
        await self.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.company_id == company_id)
            .values(last_seen_at=utcnow())
        )

    async def add_tool_use(
        self, *, company_id: uuid.UUID, conversation_id: str, use: dict[str, Any]
    ) -> None:
        """Append one tool call to the conversation's `tools_used` (and beat its heartbeat)."""
        row = await self.get(company_id=company_id, conversation_id=conversation_id)
        if row is None:
            return
        row.tools_used = [*(row.tools_used or []), use]
        row.last_seen_at = utcnow()

    async def delete(self, *, conversation: Conversation) -> None:
        await self.session.delete(conversation)
        await self.session.flush()

    async def count_ongoing(self, *, agent_id: uuid.UUID | None = None) -> int:
        """Calls in progress (`ongoing` records of the voice channel), across companies or of
        one agent."""
        query = select(func.count()).select_from(Conversation)
        ongoing = query.where(Conversation.status == "ongoing", Conversation.channel == "voice")
        if agent_id is not None:
            ongoing = ongoing.where(Conversation.agent_id == agent_id)
        return await self.session.scalar(ongoing) or 0

    async def fail_lost(self, *, last_seen_before: datetime) -> Sequence[Conversation]:
        """Close as failed (`worker_lost`, ended at the last heartbeat) the ongoing calls of
        every company whose worker's last heartbeat is older than `last_seen_before` (the
        worker is gone); the calls closed here are returned."""
        return await self._fail_ongoing(
            (Conversation.last_seen_at.is_not(None), Conversation.last_seen_at < last_seen_before),
            end_reason="worker_lost",
            ended_at=Conversation.last_seen_at,
        )

    async def fail_unjoined(
        self, *, created_before: datetime, now: datetime
    ) -> Sequence[Conversation]:
        """Close as failed (`not_joined`, ended `now`) the ongoing calls of every company
        that no agent joined and that were set up before `created_before`; the calls closed
        here are returned."""
        return await self._fail_ongoing(
            (Conversation.started_at.is_(None), Conversation.created_at < created_before),
            end_reason="not_joined",
            ended_at=now,
        )

    async def _fail_ongoing(
        self,
        conditions: tuple[ColumnElement[bool], ...],
        *,
        end_reason: str,
        ended_at: datetime | InstrumentedAttribute[datetime | None],
    ) -> Sequence[Conversation]:
        """One UPDATE ... RETURNING, so that with several reapers each call is closed, and
        returned, by one of them, on both backends: on PostgreSQL the candidates are locked,
        skipping rows another transaction holds (a later round sees them again); on SQLite,
        without row locks but with one writer at a time, the UPDATE's own `ongoing` check
        keeps a call closed meanwhile from being closed again."""
        candidates = (
            select(Conversation.id)
            .where(Conversation.status == "ongoing", Conversation.channel == "voice", *conditions)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.scalars(
            update(Conversation)
            .where(Conversation.id.in_(candidates), Conversation.status == "ongoing")
            .values(status="failed", end_reason=end_reason, ended_at=ended_at)
            .returning(Conversation)
            .execution_options(synchronize_session=False)
        )
        return result.all()

    async def lock_expired(
        self, *, agent_id: uuid.UUID, created_before: datetime
    ) -> Sequence[Row[str, str | None]]:
        """The id and recording key of one agent's finished calls and its chats (which have no
        end) set up before `created_before` (the retention purge's, which goes through every
        agent), locked for the caller's transaction: on PostgreSQL another purge skips them
        (`SKIP LOCKED`)."""
        result = await self.session.execute(
            select(Conversation.id, Conversation.recording)
            .where(
                Conversation.agent_id == agent_id,
                or_(Conversation.status != "ongoing", Conversation.channel == "chat"),
                Conversation.created_at < created_before,
            )
            .with_for_update(skip_locked=True)
        )
        return result.all()

    async def delete_many(self, *, conversation_ids: Sequence[str]) -> int:
        """Delete these calls; their messages go with them (ON DELETE CASCADE). How many
        were deleted here (not by another transaction meanwhile)."""
        result = await self.session.execute(
            delete(Conversation).where(Conversation.id.in_(conversation_ids))
        )
        if not isinstance(result, CursorResult):
            raise TypeError(f"not the result of a DELETE: {type(result).__name__}")
        return result.rowcount

    async def phone_call(self, conversation_id: str) -> Conversation | None:
        """Any company's phone call by its id (a provider's callback names it; the call's
        company's credentials verify the request)."""
        row = await self.session.get(Conversation, conversation_id)
        return row if row is not None and row.direction is not None else None

    async def phone_call_by_sid(self, call_sid: str) -> Conversation | None:
        """Any company's phone call by the provider's id of it."""
        return await self.session.scalar(
            select(Conversation).where(Conversation.provider_call_id == call_sid)
        )

    async def chat_session(self, *, company_id: uuid.UUID, session_id: str) -> Conversation | None:
        """The company's chat whose client names it `session_id`."""
        return await self.session.scalar(
            select(Conversation).where(
                Conversation.company_id == company_id,
                Conversation.session_id == session_id,
                Conversation.channel == "chat",
            )
        )
