"""`/v1/api/analytics/...`: seed 001's analytics, in its envelope: an agent's calls over a
period with their top intents and sentiment (from the conversations' analyses), and the
sentiment of any texts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ...analysis import sentiment as sentiment_of
from ...schemas.envelope import envelope_of, ok
from ...services.analytics import analytics
from ...store.repositories import AnalysisRepository, ConversationRepository
from ..deps import CompanyDep, SessionDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute
from ..routes.conversations import DateQuery, parse_instant
from .common import company_agent

router = APIRouter(prefix="/v1/api/analytics", tags=["analytics"], route_class=SeedRoute)

PERIODS = {"day": 1, "week": 7, "month": 30, "year": 365}
Period = Literal["day", "week", "month", "year"]
SentimentText = Annotated[str, Field(min_length=1, max_length=5000)]


class Overview(BaseModel):
    total_calls: int
    success_rate: float | None
    avg_duration: float | None
    """Seconds."""
    total_duration: float
    """Seconds of all the period's finished calls."""


class TimelineDay(BaseModel):
    date: str
    calls: int
    success_rate: float | None


class IntentCount(BaseModel):
    intent: str
    count: int
    percentage: float
    """Of the analysed conversations in the period."""


class SentimentShare(BaseModel):
    """Of the analysed conversations in the period (all 0 when none is)."""

    positive: float
    neutral: float
    negative: float


class AgentAnalyticsView(BaseModel):
    overview: Overview
    timeline: list[TimelineDay]
    top_intents: list[IntentCount]
    sentiment: SentimentShare
    analysed: int
    """Conversations with a completed analysis behind `top_intents` and `sentiment`."""


@router.get(
    "/agent/{id}",
    responses=error_responses(400, 401, 404, 429),
    response_model=envelope_of(AgentAnalyticsView),
)
async def agent_analytics(
    id: str,
    session: SessionDep,
    company_id: CompanyDep,
    period: Annotated[Period | None, Query()] = None,
    date_from: DateQuery = None,
    date_to: DateQuery = None,
) -> dict[str, Any]:
    """An agent's calls over a period (`period` counts back from now; `date_from` and
    `date_to` bound it instead or as well), with the intents and the callers' sentiment
    that their analyses found."""
    agent = await company_agent(session, company_id, id)
    start = parse_instant("date_from", date_from)
    if start is None and period is not None:
        start = datetime.now(UTC) - timedelta(days=PERIODS[period])
    rows = await ConversationRepository(session).for_agent(
        company_id=company_id,
        agent_id=agent.id,
        date_from=start,
        date_to=parse_instant("date_to", date_to),
    )
    summary = analytics(agent.id, rows)
    calls = [r for r in rows if r.channel == "voice"]
    durations = [r.duration for r in calls if r.status != "ongoing" and r.duration is not None]
    analyses = [
        a
        for a in (
            await AnalysisRepository(session).of(
                company_id=company_id, conversation_ids=[r.id for r in rows]
            )
        ).values()
        if a.status == "completed"
    ]
    intents = Counter(intent for a in analyses for intent in a.intents or [])
    moods = Counter(a.sentiment for a in analyses if a.sentiment)
    rated = sum(moods.values())
    view = AgentAnalyticsView(
        overview=Overview(
            total_calls=summary.total_calls,
            success_rate=summary.success_rate,
            avg_duration=summary.average_duration,
            total_duration=round(sum(durations), 3),
        ),
        timeline=[
            TimelineDay(
                date=day.date,
                calls=day.calls,
                success_rate=round(day.success / (day.success + day.failed), 4)
                if day.success + day.failed
                else None,
            )
            for day in summary.timeline
        ],
        top_intents=[
            IntentCount(intent=name, count=n, percentage=round(n / len(analyses), 4))
            for name, n in intents.most_common(10)
        ],
        sentiment=SentimentShare(
            **{
                kind: round(moods[kind] / rated, 4) if rated else 0.0
                for kind in ("positive", "neutral", "negative")
            }
        ),
        analysed=len(analyses),
    )
    return ok(view.model_dump(mode="json"))


class SentimentBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    texts: list[SentimentText] = Field(min_length=1, max_length=100)


class SentimentResult(BaseModel):
    text: str
    sentiment: Literal["positive", "neutral", "negative"]
    score: float
    """0 (negative) to 1 (positive); 0.5 is neutral."""


class SentimentResults(BaseModel):
    results: list[SentimentResult]


@router.post(
    "/sentiment-batch",
    responses=error_responses(400, 401, 429),
    response_model=envelope_of(SentimentResults),
)
async def sentiment_batch(body: SentimentBatch, request: Request) -> dict[str, Any]:
    """The sentiment of each text, worked out offline (the packaged multilingual embeddings:
    any language they read)."""
    scores = await request.app.state.sentiment.scores(body.texts)
    results = SentimentResults(
        results=[
            SentimentResult(
                text=text, sentiment=sentiment_of.label(s), score=round((s + 1.0) / 2.0, 3)
            )
            for text, s in zip(body.texts, scores, strict=True)
        ]
    )
    return ok(results.model_dump(mode="json"))
