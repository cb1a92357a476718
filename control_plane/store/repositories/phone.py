"""A company's phone numbers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import PhoneNumber


class PhoneNumberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **values: object) -> PhoneNumber:
        row = PhoneNumber(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def list(self, *, company_id: uuid.UUID) -> Sequence[PhoneNumber]:
        rows = await self.session.scalars(
            select(PhoneNumber)
            .where(PhoneNumber.company_id == company_id)
            .order_by(PhoneNumber.created_at)
        )
        return rows.all()

    async def get(self, *, company_id: uuid.UUID, number_id: uuid.UUID) -> PhoneNumber | None:
        return await self.session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.company_id == company_id, PhoneNumber.id == number_id
            )
        )

    async def by_number(self, number: str) -> PhoneNumber | None:
        """Any company's number (a provider's webhook names the number called; the number
        says which company, and that company's credentials verify the request)."""
        return await self.session.scalar(select(PhoneNumber).where(PhoneNumber.number == number))

    async def for_agent(self, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> PhoneNumber | None:
        """The number an agent's outgoing calls come from: its own, else the company's first."""
        rows = await self.list(company_id=company_id)
        own = [r for r in rows if r.agent_id == agent_id]
        return own[0] if own else (rows[0] if rows else None)

    async def delete(self, row: PhoneNumber) -> None:
        await self.session.delete(row)
