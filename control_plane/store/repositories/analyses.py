"""Conversation analyses: queued when a conversation ends, worked by the analysis job."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..claims import claim_rows, finish_claimed
from ..models import ConversationAnalysis

PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"


class AnalysisRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def queue(self, *, company_id: uuid.UUID, conversation_id: str) -> None:
        """Ask for the conversation to be analysed (again, if it was): its results so far
        stay readable until the new ones replace them."""
        row = await self.session.get(ConversationAnalysis, conversation_id)
        if row is None:
            self.session.add(
                ConversationAnalysis(
                    conversation_id=conversation_id, company_id=company_id, status=PENDING
                )
            )
        elif row.status != PROCESSING:
            row.status, row.attempts, row.error, row.locked_until = PENDING, 0, None, None
        await self.session.flush()

    async def get(
        self, *, company_id: uuid.UUID, conversation_id: str
    ) -> ConversationAnalysis | None:
        return await self.session.scalar(
            select(ConversationAnalysis).where(
                ConversationAnalysis.company_id == company_id,
                ConversationAnalysis.conversation_id == conversation_id,
            )
        )

    async def of(
        self, *, company_id: uuid.UUID, conversation_ids: Sequence[str]
    ) -> dict[str, ConversationAnalysis]:
        if not conversation_ids:
            return {}
        rows = await self.session.scalars(
            select(ConversationAnalysis).where(
                ConversationAnalysis.company_id == company_id,
                ConversationAnalysis.conversation_id.in_(conversation_ids),
            )
        )
        return {row.conversation_id: row for row in rows}

    async def get_for_work(self, conversation_id: str) -> ConversationAnalysis | None:
        """Any company's analysis (the job's own read)."""
        return await self.session.get(ConversationAnalysis, conversation_id)

    async def claim_due(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> builtins.list[tuple[str, datetime]]:
        """Claim up to `limit` analyses to run, across companies: new ones, retries whose time
        has come and those whose job died (`processing` past its claim)."""
        claimed, until = await claim_rows(
            self.session,
            key=ConversationAnalysis.conversation_id,
            locked_until=ConversationAnalysis.locked_until,
            due=ConversationAnalysis.status.in_((PENDING, PROCESSING)),
            order_by=ConversationAnalysis.created_at,
            now=now,
            lease=lease,
            limit=limit,
            values={"status": PROCESSING, "attempts": ConversationAnalysis.attempts + 1},
        )
        return [(conversation_id, until) for conversation_id in claimed]

    async def finish(
        self, *, conversation_id: str, claimed_until: datetime, values: dict[str, object]
    ) -> bool:
        """Record the outcome if the claim is still this job's."""
        return await finish_claimed(
            self.session,
            key=ConversationAnalysis.conversation_id,
            locked_until=ConversationAnalysis.locked_until,
            value=conversation_id,
            claimed_until=claimed_until,
            values=values,
        )

    async def discard(self, *, conversation_id: str) -> None:
        row = await self.session.get(ConversationAnalysis, conversation_id)
        if row is not None:
            await self.session.delete(row)
            await self.session.flush()
