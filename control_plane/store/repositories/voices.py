"""A company's own voices, and voice preview jobs."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from ..claims import claim_rows, finish_claimed
from ..models import CustomVoice, VoiceAgent, VoicePreviewJob, utcnow

PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"


class CustomVoiceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **values: object) -> CustomVoice:
        row = CustomVoice(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def list(self, *, company_id: uuid.UUID) -> Sequence[CustomVoice]:
        rows = await self.session.scalars(
            select(CustomVoice)
            .where(CustomVoice.company_id == company_id)
            .order_by(CustomVoice.created_at)
        )
        return rows.all()

    async def get(self, *, company_id: uuid.UUID, voice_id: str) -> CustomVoice | None:
        return await self.session.scalar(
            select(CustomVoice).where(
                CustomVoice.company_id == company_id, CustomVoice.voice_id == voice_id
            )
        )

    async def owner(self, voice_id: str) -> uuid.UUID | None:
        """The company that made `voice_id`, if any did (across companies: used to refuse
        another company's voice to an agent, without saying whose it is)."""
        return await self.session.scalar(
            select(CustomVoice.company_id).where(CustomVoice.voice_id == voice_id)
        )

    async def agents_using(
        self, *, company_id: uuid.UUID, voice_id: str
    ) -> Sequence[tuple[uuid.UUID, str]]:
        rows = await self.session.execute(
            select(VoiceAgent.id, VoiceAgent.name)
            .where(VoiceAgent.company_id == company_id, VoiceAgent.voice_id == voice_id)
            .order_by(VoiceAgent.name)
        )
        return [(row[0], row[1]) for row in rows]

    async def delete(self, row: CustomVoice) -> None:
        await self.session.delete(row)
        await self.session.flush()


class VoicePreviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **values: object) -> VoicePreviewJob:
        row = VoicePreviewJob(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(
        self, *, company_id: uuid.UUID, agent_id: uuid.UUID, job_id: int, audio: bool = False
    ) -> VoicePreviewJob | None:
        query = select(VoicePreviewJob).where(
            VoicePreviewJob.company_id == company_id,
            VoicePreviewJob.agent_id == agent_id,
            VoicePreviewJob.id == job_id,
            VoicePreviewJob.expires_at > utcnow(),  # expired: gone, purged or not
        )
        if audio:
            query = query.options(undefer(VoicePreviewJob.audio))
        return await self.session.scalar(query)

    async def get_for_work(self, job_id: int) -> VoicePreviewJob | None:
        """Any company's job (the preview job's own read)."""
        return await self.session.get(VoicePreviewJob, job_id)

    async def claim_due(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> builtins.list[tuple[int, datetime]]:
        """Claim up to `limit` jobs to run, across companies: new ones and those whose job
        died (`processing` past its claim); see `claims.claim_rows`."""
        claimed, until = await claim_rows(
            self.session,
            key=VoicePreviewJob.id,
            locked_until=VoicePreviewJob.locked_until,
            due=and_(
                VoicePreviewJob.status.in_((PENDING, PROCESSING)),
                VoicePreviewJob.expires_at > now,
            ),
            order_by=VoicePreviewJob.id,
            now=now,
            lease=lease,
            limit=limit,
            values={"status": PROCESSING, "attempts": VoicePreviewJob.attempts + 1},
        )
        return [(job_id, until) for job_id in claimed]

    async def finish(
        self, *, job_id: int, claimed_until: datetime, values: dict[str, object]
    ) -> bool:
        """Record the job's outcome if the claim is still this job's."""
        return await finish_claimed(
            self.session,
            key=VoicePreviewJob.id,
            locked_until=VoicePreviewJob.locked_until,
            value=job_id,
            claimed_until=claimed_until,
            values=values,
        )

    async def purge_expired(self, *, now: datetime) -> int:
        result = await self.session.execute(
            delete(VoicePreviewJob).where(VoicePreviewJob.expires_at <= now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
