"""What the seed-001 routes share: their errors, and finding a company's rows by id."""

from __future__ import annotations

import uuid

from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from ...services.agents import find_agent
from ...store.models import VoiceAgent


def seed_error(
    status: int, message: str, code: str | None = None, field: str | None = None
) -> HTTPException:
    """An error the seed's envelope carries with its `code` and `field`."""
    return HTTPException(status, {"code": code, "message": message, "field": field})


def parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def company_agent(
    session: AsyncSession, company_id: uuid.UUID, agent_id: str, field: str = "agent_id"
) -> VoiceAgent:
    """The company's agent `agent_id`; 404 `AGENT_NOT_FOUND` naming `field` otherwise."""
    return await find_agent(session, company_id, agent_id, field)
