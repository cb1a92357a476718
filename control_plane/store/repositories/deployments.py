"""A company's deployments: its agents published on a channel and region for the chat API."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Deployment, utcnow


class DeploymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self, *, company_id: uuid.UUID, agent_id: uuid.UUID, channel: str, region: str, name: str
    ) -> Deployment:
        row = Deployment(
            company_id=company_id, agent_id=agent_id, channel=channel, region=region, name=name
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, *, company_id: uuid.UUID, deployment_id: uuid.UUID) -> Deployment | None:
        return await self.session.scalar(
            select(Deployment).where(
                Deployment.company_id == company_id, Deployment.id == deployment_id
            )
        )

    async def by_id(self, deployment_id: uuid.UUID) -> Deployment | None:
        """Any company's deployment (the key guard's: the key says which company)."""
        return await self.session.get(Deployment, deployment_id)

    async def matching(
        self, *, company_id: uuid.UUID, agent_id: uuid.UUID, channel: str, region: str
    ) -> Sequence[Deployment]:
        """The company's deployments of `agent_id` on `channel` and `region`, live ones first."""
        rows = await self.session.scalars(
            select(Deployment)
            .where(
                Deployment.company_id == company_id,
                Deployment.agent_id == agent_id,
                Deployment.channel == channel,
                Deployment.region == region,
            )
            .order_by(Deployment.revoked_at.is_not(None), Deployment.created_at)
        )
        return rows.all()

    async def list(
        self, *, company_id: uuid.UUID, agent_id: uuid.UUID | None = None
    ) -> Sequence[Deployment]:
        query = select(Deployment).where(Deployment.company_id == company_id)
        if agent_id is not None:
            query = query.where(Deployment.agent_id == agent_id)
        return (await self.session.scalars(query.order_by(Deployment.created_at))).all()

    async def revoke(self, deployment: Deployment) -> None:
        if deployment.revoked_at is None:
            deployment.revoked_at = utcnow()
            await self.session.flush()
