"""`/v1/api/conversations/...`: seed 001's conversations API, in its envelope; the same
records as `/conversations`."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ...schemas.envelope import envelope_of, ok
from ...schemas.seed_agents import Pagination
from ...schemas.seed_conversations import (
    ConversationItem,
    ConversationItems,
    ConversationView,
    SeedMetadata,
    TranscriptLine,
    clock,
)
from ...store.models import Conversation, ConversationAnalysis
from ...store.repositories import AnalysisRepository, ConversationRepository
from ..deps import CompanyDep, SessionDep, SettingsDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute
from ..routes.conversations import (
    RECORDING_RESPONSE,
    DateQuery,
    ResolutionLabel,
    SentimentLabel,
    Status,
    conversation_page,
    find_conversation,
)
from ..routes.conversations import recording_response as _recording
from .common import company_agent

router = APIRouter(prefix="/v1/api/conversations", tags=["conversations"], route_class=SeedRoute)


def _item(row: Conversation, analysis: ConversationAnalysis | None) -> dict[str, Any]:
    return ConversationItem(
        id=row.id,
        agent_id=row.agent_id,
        user_id=row.user_id,
        phone_number=row.phone_number,
        channel=row.channel,
        duration=row.duration,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        sentiment=analysis.sentiment if analysis else None,
        summary=analysis.summary if analysis else None,
    ).model_dump()


@router.get(
    "/list",
    responses=error_responses(400, 401, 404, 429),
    response_model=envelope_of(ConversationItems),
)
async def list_conversations(
    session: SessionDep,
    company_id: CompanyDep,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Status | None, Query()] = None,
    date_from: DateQuery = None,
    date_to: DateQuery = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    sentiment: Annotated[SentimentLabel | None, Query()] = None,
    resolution: Annotated[ResolutionLabel | None, Query()] = None,
) -> dict[str, Any]:
    """The company's conversations (calls and chats), newest first; `sentiment` and
    `resolution` keep those whose analysis found it."""
    agent: uuid.UUID | None = None
    if agent_id is not None:
        agent = (await company_agent(session, company_id, agent_id)).id
    rows, total, analyses = await conversation_page(
        session,
        company_id,
        agent,
        status,
        date_from,
        date_to,
        page,
        limit,
        sentiment=sentiment,
        resolution=resolution,
    )
    items = ConversationItems.model_validate(
        {
            "conversations": [_item(r, analyses.get(r.id)) for r in rows],
            "pagination": Pagination(
                total=total, page=page, pages=max(1, math.ceil(total / limit))
            ),
        }
    )
    return ok(items.model_dump(mode="json"))


@router.get(
    "/{id}", responses=error_responses(401, 404, 429), response_model=envelope_of(ConversationView)
)
async def get_conversation(id: str, session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """One conversation with its transcript (`timestamp` as `HH:MM:SS` since it started)."""
    row = await find_conversation(session, company_id, id)
    messages = await ConversationRepository(session).messages(conversation_id=row.id)
    analysis = await AnalysisRepository(session).get(company_id=company_id, conversation_id=row.id)
    origin = row.started_at or row.created_at
    view = ConversationView(
        **_item(row, analysis),
        transcript=[
            TranscriptLine(
                speaker=m.speaker,
                text=m.text,
                timestamp=clock((m.created_at - origin).total_seconds()),
            )
            for m in messages
        ],
        metadata=SeedMetadata(
            tools_used=[use["name"] for use in row.tools_used or []],
            data_collected=dict(analysis.data_collected or {}) if analysis else {},
        ),
        audio_url=f"/v1/api/conversations/{row.id}/audio" if row.recording else None,
    )
    return ok(view.model_dump(mode="json"))


@router.get(
    "/{id}/audio",
    response_class=StreamingResponse,
    responses={200: RECORDING_RESPONSE, **error_responses(401, 404, 429)},
)
async def get_audio(
    id: str, session: SessionDep, settings: SettingsDep, company_id: CompanyDep
) -> StreamingResponse:
    """The call's recording (Ogg/Opus or MP3, as the deployment records)."""
    return await _recording(settings, await find_conversation(session, company_id, id))
