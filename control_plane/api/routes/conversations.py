"""`/conversations`: start a call with a voice agent; list, read, end and delete calls;
download their recordings."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import iterate_in_threadpool

from ...recordings import CONTENT_TYPES, format_of
from ...schemas.conversations import (
    ISO_DATE,
    SATISFACTION,
    ConnectionDetails,
    ConversationAnalysisOut,
    ConversationDetails,
    ConversationEnd,
    ConversationList,
    ConversationMetadata,
    ConversationStart,
    ConversationStarted,
    ConversationSummary,
    Feedback,
    HistoryMessage,
    ToolUse,
    TranscriptMessage,
)
from ...services.agents import find_agent
from ...services.calls import (
    LiveKitUnavailableError,
    caller_token,
    check_context,
    close_room,
    dispatch_for,
    hang_up,
    request_end,
)
from ...settings import Settings
from ...store.models import Conversation, ConversationAnalysis
from ...store.repositories import AnalysisRepository, ConversationRepository
from ..deps import CompanyDep, SessionDep, SettingsDep
from ..errors import error_responses
from ..guard import GuardedRoute

logger = logging.getLogger("control_plane.conversations")

router = APIRouter(prefix="/conversations", tags=["conversations"], route_class=GuardedRoute)


@router.post("", status_code=201, responses=error_responses(400, 401, 404, 409, 429))
async def start_conversation(
    body: ConversationStart, session: SessionDep, settings: SettingsDep, company_id: CompanyDep
) -> ConversationStarted:
    """Start a call: returns a LiveKit URL and a participant token. The agent is dispatched
    into the room when the caller joins with that token."""
    agent = await find_agent(session, company_id, body.agent_id)
    if not agent.active:
        raise HTTPException(409, "Voice agent is not active: set active to true to take calls")
    check_context(body.initial_context)
    conversation_id = f"conv_{uuid.uuid4().hex}"
    metadata = dispatch_for(
        agent,
        conversation_id=conversation_id,
        user_id=body.user_id,
        language=body.language,
        context=body.initial_context,
        call_settings=body.settings.model_dump(exclude_none=True),
    )
    token = caller_token(
        settings, room_name=conversation_id, identity=body.user_id, dispatch=metadata
    )
    record = await ConversationRepository(session).create(
        id=conversation_id,
        company_id=company_id,
        agent_id=agent.id,
        user_id=body.user_id,
        room_name=conversation_id,
        status="ongoing",
    )
    await session.commit()
    return ConversationStarted(
        conversation_id=conversation_id,
        agent_id=agent.id,
        status="active",
        created_at=record.created_at,
        connection_details=ConnectionDetails(
            websocket_url=settings.livekit_url,
            token=token,
            room_name=conversation_id,
            participant_identity=body.user_id,
        ),
    )


RECORDING_RESPONSE = {
    "content": {t: {} for t in CONTENT_TYPES.values()},
    "description": "The call's recording: stereo, caller left, agent right.",
}


# --- past and ongoing calls ----------------------------------------------------------------

Status = Literal["ongoing", "success", "failed"]
SentimentLabel = Literal["positive", "neutral", "negative"]
ResolutionLabel = Literal["resolved", "unresolved", "escalated"]
DateQuery = Annotated[str | None, Query(pattern=ISO_DATE, description="ISO 8601, inclusive")]


@router.get("", responses=error_responses(400, 401, 429))
async def list_conversations(
    session: SessionDep,
    company_id: CompanyDep,
    agent_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    date_from: DateQuery = None,
    date_to: DateQuery = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    sentiment: Annotated[SentimentLabel | None, Query()] = None,
    resolution: Annotated[ResolutionLabel | None, Query()] = None,
) -> ConversationList:
    """The company's calls, newest first; `sentiment` and `resolution` keep those whose
    analysis found it."""
    rows, total, analyses = await conversation_page(
        session,
        company_id,
        agent_id,
        status,
        date_from,
        date_to,
        page,
        limit,
        sentiment=sentiment,
        resolution=resolution,
    )
    return ConversationList(
        conversations=[ConversationSummary.of(r, analyses.get(r.id)) for r in rows],
        total=total,
        page=page,
        limit=limit,
    )


async def conversation_page(
    session: AsyncSession,
    company_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    status: str | None,
    date_from: str | None,
    date_to: str | None,
    page: int,
    limit: int,
    *,
    sentiment: str | None = None,
    resolution: str | None = None,
) -> tuple[Sequence[Conversation], int, dict[str, ConversationAnalysis]]:
    """One page of the company's conversations matching the filters, how many match, and the
    page's analyses by conversation id."""
    rows, total = await ConversationRepository(session).list(
        company_id=company_id,
        agent_id=agent_id,
        status=status,
        sentiment=sentiment,
        resolution=resolution,
        date_from=parse_instant("date_from", date_from),
        date_to=parse_instant("date_to", date_to),
        offset=(page - 1) * limit,
        limit=limit,
    )
    analyses = await AnalysisRepository(session).of(
        company_id=company_id, conversation_ids=[r.id for r in rows]
    )
    return rows, total, analyses


def parse_instant(field: str, value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time (UTC when it names no zone)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{field}: not an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def find_conversation(
    session: SessionDep, company_id: uuid.UUID, conversation_id: str
) -> Conversation:
    row = await ConversationRepository(session).get(
        company_id=company_id, conversation_id=conversation_id
    )
    if row is None:
        raise HTTPException(404, "Conversation not found")
    return row


@router.get("/{conversation_id}", responses=error_responses(401, 404, 429))
async def get_conversation(
    conversation_id: str, session: SessionDep, company_id: CompanyDep
) -> ConversationDetails:
    """One call with its transcript (each message stored as it was said) and metrics."""
    row = await find_conversation(session, company_id, conversation_id)
    messages = await ConversationRepository(session).messages(conversation_id=row.id)
    analysis = await AnalysisRepository(session).get(company_id=company_id, conversation_id=row.id)
    origin = row.started_at or row.created_at
    rating = (row.feedback or {}).get("rating")
    return ConversationDetails(
        **ConversationSummary.of(row, analysis).model_dump(),
        conversation_id=row.id,
        messages=[
            HistoryMessage(id=str(m.id), type=m.speaker, content=m.text, timestamp=m.created_at)
            for m in messages
        ],
        transcript=[
            TranscriptMessage(
                speaker=m.speaker,
                text=m.text,
                interrupted=m.interrupted,
                timestamp=round(max(0.0, (m.created_at - origin).total_seconds()), 3),
                created_at=m.created_at,
            )
            for m in messages
        ],
        tools=[ToolUse(**use) for use in row.tools_used or []],
        metadata=ConversationMetadata(
            tools_used=[use["name"] for use in row.tools_used or []],
            data_collected=dict(analysis.data_collected or {}) if analysis else {},
        ),
        metrics={
            **(row.metrics or {}),
            "sentiment_score": analysis.sentiment_score if analysis else None,
            "user_satisfaction": SATISFACTION.get(rating) if isinstance(rating, int) else None,
            "resolution_status": row.outcome or (analysis.resolution if analysis else None),
        },
        audio_url=f"/conversations/{row.id}/audio" if row.recording else None,
        outcome=row.outcome,
        feedback=Feedback(**row.feedback) if row.feedback else None,
        analysis=ConversationAnalysisOut.of(analysis, row) if analysis else None,
    )


@router.get("/{conversation_id}/analysis", responses=error_responses(401, 404, 429))
async def get_conversation_analysis(
    conversation_id: str, session: SessionDep, company_id: CompanyDep
) -> ConversationAnalysisOut:
    """The conversation's analysis: summary, sentiment, intents, resolution, the data
    collected and the success criteria (404 until it has ended, or when none is kept)."""
    row = await find_conversation(session, company_id, conversation_id)
    analysis = await AnalysisRepository(session).get(company_id=company_id, conversation_id=row.id)
    if analysis is None:
        why = "it has not ended" if row.status == "ongoing" else "none was made or kept"
        raise HTTPException(404, f"This conversation has no analysis: {why}")
    return ConversationAnalysisOut.of(analysis, row)


@router.post(
    "/{conversation_id}/analysis",
    status_code=202,
    responses=error_responses(401, 404, 409, 429),
)
async def analyse_conversation(
    conversation_id: str, request: Request, session: SessionDep, company_id: CompanyDep
) -> ConversationAnalysisOut:
    """Analyse the conversation again (after the agent's analysis settings changed), or now
    (a chat still open). The results so far stay until the new ones replace them; 409 while
    a call is going on or while an analysis of it is running."""
    row = await find_conversation(session, company_id, conversation_id)
    if row.status == "ongoing" and row.channel == "voice":
        raise HTTPException(409, "The call is still going on; it is analysed when it ends")
    analyses = AnalysisRepository(session)
    current = await analyses.get(company_id=company_id, conversation_id=row.id)
    if current is not None and current.status == "processing":
        raise HTTPException(409, "An analysis of this conversation is running")
    await analyses.queue(company_id=company_id, conversation_id=row.id)
    await session.commit()
    analyst = getattr(request.app.state, "analyst", None)
    if analyst is not None:
        analyst.wake.set()
    queued = await analyses.get(company_id=company_id, conversation_id=row.id)
    assert queued is not None
    return ConversationAnalysisOut.of(queued, row)


@router.get(
    "/{conversation_id}/audio",
    response_class=StreamingResponse,
    responses={200: RECORDING_RESPONSE, **error_responses(401, 404, 429)},
)
async def get_conversation_audio(
    conversation_id: str, session: SessionDep, settings: SettingsDep, company_id: CompanyDep
) -> StreamingResponse:
    """Download a call's recording (Ogg/Opus or MP3, as the deployment records)."""
    row = await find_conversation(session, company_id, conversation_id)
    return await recording_response(settings, row)


async def recording_response(settings: Settings, row: Conversation) -> StreamingResponse:
    """The call's recording, streamed; 404 saying why when there is none."""
    if row.recording is None:
        why = "the call is not over" if row.status == "ongoing" else "none was kept"
        raise HTTPException(404, f"This conversation has no recording: {why}")
    store = settings.recording_store()
    try:
        size = await asyncio.to_thread(store.size, row.recording)
        chunks = await asyncio.to_thread(store.chunks, row.recording)
    except FileNotFoundError:
        raise HTTPException(404, "This conversation's recording is missing from storage") from None
    fmt = format_of(row.recording)
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type=CONTENT_TYPES[fmt],
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{row.id}.{fmt}"',
        },
    )


@router.post(
    "/{conversation_id}/end",
    status_code=202,
    responses=error_responses(400, 401, 404, 409, 429, 502),
)
async def end_conversation(
    conversation_id: str,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
    background: BackgroundTasks,
    body: ConversationEnd | None = None,
) -> ConversationSummary:
    """End an ongoing call: the caller is disconnected and the agent leaves. The record
    closes as `success` / `ended_by_api` once the agent has left (a `conversation.ended`
    webhook tells when); a call nobody joined yet closes at once. When LiveKit cannot
    disconnect the caller (502), the end stays requested and the same request can be
    retried."""
    body = body or ConversationEnd()
    row = await find_conversation(session, company_id, conversation_id)
    if row.status != "ongoing":
        raise HTTPException(409, f"Conversation is not ongoing (status {row.status})")
    joined = await request_end(
        session,
        row,
        outcome=body.reason,
        feedback=body.feedback.model_dump(exclude_none=True) if body.feedback else None,
    )
    await session.commit()
    try:
        await hang_up(settings, row.room_name)
    except LiveKitUnavailableError as exc:
        if joined:
            raise HTTPException(502, str(exc)) from None
        # Nobody is in the room to disconnect; the record is closed, and an agent joining
        # later finds the end requested and does not take the call.
        logger.warning("unjoined call %s: %s", row.id, exc)
    background.add_task(close_room, settings, row.room_name)
    return ConversationSummary.of(row)


@router.delete("/{conversation_id}", status_code=204, responses=error_responses(401, 404, 429))
async def delete_conversation(
    conversation_id: str, session: SessionDep, settings: SettingsDep, company_id: CompanyDep
) -> Response:
    """Delete a call's record, transcript and recording."""
    row = await find_conversation(session, company_id, conversation_id)
    recording = row.recording
    await ConversationRepository(session).delete(conversation=row)
    await session.commit()
    if recording is not None:
        await asyncio.to_thread(settings.recording_store().delete, recording)
    return Response(status_code=204)
