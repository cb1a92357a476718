"""`POST /voice-agents/{id}/analysis-preview`: an agent's post-call analysis of a transcript
given in the request, stored nowhere (to try its `analysis` settings before calls use them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from agent.contract import AgentConfig, AnalysisSettings, Language

from ...agent_loader import agent_config
from ...analysis.conversation import Line, ModelUnreachableError, analyse
from ...jobs.analysis import EMBEDDED_MODEL_SKIPPED, agent_credentials, analysis_model
from ...schemas.conversations import CriterionResult, MessageSentiment
from ...services.agents import find_agent
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import GuardedRoute

router = APIRouter(prefix="/voice-agents", tags=["voice-agents"], route_class=GuardedRoute)


class PreviewLine(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    speaker: Literal["user", "agent"]
    text: Annotated[str, Field(min_length=1, max_length=5000)]


class AnalysisPreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    messages: list[PreviewLine] = Field(min_length=1, max_length=200)
    language: Language | None = None
    """The conversation's language (the agent's when absent)."""
    analysis: AnalysisSettings | None = None
    """Settings to try instead of the agent's own."""


class AnalysisPreview(BaseModel):
    summary: str | None
    sentiment: Literal["positive", "neutral", "negative"] | None
    sentiment_score: float | None
    message_sentiments: list[MessageSentiment]
    intents: list[str]
    resolution: Literal["resolved", "unresolved", "escalated"] | None
    data_collected: dict[str, Any]
    criteria: dict[str, CriterionResult]
    model: str
    problem: str | None
    """Why the model's parts are missing (its answer was not usable), if they are."""


@router.post("/{id}/analysis-preview", responses=error_responses(400, 401, 404, 429, 502))
async def preview_analysis(
    id: str,
    body: AnalysisPreviewRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
    vault: VaultDep,
) -> AnalysisPreview:
    """What the agent's post-call analysis makes of this transcript: the same work as after a
    call (its model, its `analysis` settings or those given), answered here and stored
    nowhere. 502 when its language model cannot be reached."""
    agent = await find_agent(session, company_id, id)
    config: AgentConfig = agent_config(agent)
    credentials = await agent_credentials(session, agent, lambda: vault)
    await session.commit()  # nothing to write; the connection is not held while the model works
    model = analysis_model(
        config,
        settings.llm_engine_settings(),
        credentials,
        settings.analysis_max_tokens,
        embedded=settings.analysis_embedded_model,
    )
    try:
        result = await analyse(
            [Line(m.speaker, m.text) for m in body.messages],
            body.analysis or config.analysis,
            language=body.language or config.language,
            model=model,
            embedding=request.app.state.sentiment,
        )
    except ModelUnreachableError as exc:
        raise HTTPException(
            502, f"The agent's language model could not be reached: {exc}"
        ) from None
    finally:
        if model is not None:
            await model.aclose()
    return AnalysisPreview(
        summary=result.summary,
        sentiment=result.sentiment,  # type: ignore[arg-type]
        sentiment_score=result.sentiment_score,
        message_sentiments=[MessageSentiment(**m) for m in result.message_sentiments],
        intents=result.intents,
        resolution=result.resolution,  # type: ignore[arg-type]
        data_collected=result.data_collected,
        criteria={k: CriterionResult(**v) for k, v in result.criteria.items()},
        model=config.llm_model,
        problem=result.problem or (EMBEDDED_MODEL_SKIPPED if model is None else None),
    )
