"""Companies: the tenants every other row belongs to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Company


class CompanyRepository:
    """The companies (tenants); used by the admin commands."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, name: str) -> Company:
        company = Company(name=name)
        self.session.add(company)
        await self.session.flush()
        return company

    async def get(self, *, company_id: uuid.UUID) -> Company | None:
        return await self.session.get(Company, company_id)

    async def list(self) -> Sequence[Company]:
        result = await self.session.scalars(select(Company).order_by(Company.created_at))
        return result.all()
