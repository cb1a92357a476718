"""`/voice-agents/{id}/analytics`."""

from __future__ import annotations

from fastapi import APIRouter

from ...schemas.analytics import AgentAnalytics
from ...services.agents import find_agent
from ...services.analytics import analytics
from ...store.repositories import ConversationRepository
from ..deps import CompanyDep, SessionDep
from ..errors import error_responses
from ..guard import GuardedRoute
from .conversations import DateQuery, parse_instant

router = APIRouter(prefix="/voice-agents", tags=["conversations"], route_class=GuardedRoute)


@router.get("/{id}/analytics", responses=error_responses(400, 401, 404, 429))
async def agent_analytics(
    id: str,
    session: SessionDep,
    company_id: CompanyDep,
    date_from: DateQuery = None,
    date_to: DateQuery = None,
) -> AgentAnalytics:
    """Calls, success rate, average duration, per-turn latency percentiles and a daily
    timeline of one agent."""
    agent = await find_agent(session, company_id, id)
    rows = await ConversationRepository(session).for_agent(
        company_id=company_id,
        agent_id=agent.id,
        date_from=parse_instant("date_from", date_from),
        date_to=parse_instant("date_to", date_to),
    )
    return analytics(agent.id, rows)
