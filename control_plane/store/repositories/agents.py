"""A company's voice agents."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import VoiceAgent, utcnow


class VoiceAgentRepository:
    """A company's voice agents."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, *, company_id: uuid.UUID) -> Sequence[VoiceAgent]:
        result = await self.session.scalars(
            select(VoiceAgent)
            .where(VoiceAgent.company_id == company_id)
            .order_by(VoiceAgent.created_at, VoiceAgent.id)
        )
        return result.all()

    async def count(self, *, company_id: uuid.UUID) -> int:
        query = select(func.count()).select_from(VoiceAgent)
        return await self.session.scalar(query.where(VoiceAgent.company_id == company_id)) or 0

    async def get(self, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> VoiceAgent | None:
        return await self.session.scalar(
            select(VoiceAgent).where(VoiceAgent.id == agent_id, VoiceAgent.company_id == company_id)
        )

    async def get_for_call(self, *, agent_id: uuid.UUID) -> VoiceAgent | None:
        """The agent a dispatched call names (the worker is trusted across companies)."""
        return await self.session.get(VoiceAgent, agent_id)

    async def privacy_of_all(self) -> Sequence[Row[uuid.UUID, dict[str, Any]]]:
        """Each agent's id and privacy settings, across companies (the retention purge)."""
        result = await self.session.execute(select(VoiceAgent.id, VoiceAgent.privacy))
        return result.all()

    async def create(self, *, company_id: uuid.UUID, values: dict[str, Any]) -> VoiceAgent:
        now = utcnow()
        agent = VoiceAgent(company_id=company_id, created_at=now, updated_at=now, **values)
        self.session.add(agent)
        await self.session.flush()
        return agent

    async def update(self, *, agent: VoiceAgent, changes: dict[str, Any]) -> VoiceAgent:
        for field, value in changes.items():
            setattr(agent, field, value)
        if changes:
            agent.updated_at = utcnow()
        await self.session.flush()
        return agent

    async def delete(self, *, agent: VoiceAgent) -> None:
        await self.session.delete(agent)
        await self.session.flush()
