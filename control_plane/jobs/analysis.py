"""Post-call analysis, off the call and durable. When a conversation ends its analysis waits
in the store as `pending` (queued in the transaction that closes it, `webhooks.enqueue_closed`,
so closing never waits for it) until a job claims it for a lease: a job that dies, or a
control plane restarted, loses nothing; another claims it when the lease ends. The job reads
the transcript and the agent's `analysis` settings, works out the sentiment offline and asks
the agent's language model for the rest (`control_plane.analysis.conversation`), stores the
results `completed` and sends `conversation.analyzed`. A model that cannot be reached is tried
again later (`max_attempts`, with a doubling wait), then the analysis is `failed` with the
reason; the sentiment, worked out offline, is kept either way. An agent with
`zero_retention`, or with analysis off, gets none: its queued analysis is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from livekit.agents import llm
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.contract import LOCAL_LLM, AgentConfig
from pipelines.factory import build_llm
from pipelines.settings import EngineSettings, ProviderCredentials

from ..agent_loader import agent_config
from ..analysis.conversation import (
    Analysis,
    Line,
    ModelUnreachableError,
    ask_model,
    offline_analysis,
)
from ..analysis.sentiment import EmbeddingSentiment
from ..security import ProviderKeyVault
from ..store.models import Conversation, VoiceAgent, utcnow
from ..store.outage import OutageLog
from ..store.repositories import (
    AnalysisRepository,
    ConversationRepository,
    ProviderKeyRepository,
    VoiceAgentRepository,
)
from ..store.repositories.analyses import COMPLETED, FAILED, PENDING
from .polling import PollingLoop
from .webhooks import enqueue

logger = logging.getLogger("control_plane.jobs.analysis")


@dataclass(frozen=True)
class AnalysisJobSettings:
    """From `Settings.analysis_*` (documented there)."""

    engines: EngineSettings
    poll_interval: float = 2.0
    lease: float = 300.0
    max_attempts: int = 3
    retry_base: float = 30.0
    max_tokens: int = 700
    embedded_model: bool = False


@dataclass(frozen=True)
class _Work:
    conversation: Conversation
    lines: list[Line]
    config: AgentConfig
    credentials: ProviderCredentials
    attempts: int


class Analyst:
    def __init__(
        self,
        sessions: async_sessionmaker,
        vault: Callable[[], ProviderKeyVault],
        settings: AnalysisJobSettings,
        embedding: EmbeddingSentiment | None = None,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.settings = settings
        self.embedding = embedding or EmbeddingSentiment()
        self.loop = PollingLoop(OutageLog(logger, "conversation analysis"), settings.poll_interval)
        self.wake = self.loop.wake
        """Set when a conversation is queued: the job starts without waiting for the poll."""

    async def run(self) -> None:
        """Work until cancelled."""
        await self.loop.run(self.run_due)

    async def run_due(self) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await AnalysisRepository(session).claim_due(
                now=utcnow(), lease=timedelta(seconds=self.settings.lease), limit=2
            )
        for conversation_id, until in claimed:
            try:
                await self.work(conversation_id, until)
            except SQLAlchemyError:
                raise  # the store: an outage, the claim expires and the work is tried again
            except Exception as exc:  # a defect: fail it rather than loop on it
                logger.exception("analysis of %s failed", conversation_id)
                async with self.sessions() as session, session.begin():
                    await AnalysisRepository(session).finish(
                        conversation_id=conversation_id,
                        claimed_until=until,
                        values={
                            "status": FAILED,
                            "error": f"the analysis failed: {type(exc).__name__}: {exc}"[:1000],
                            "finished_at": utcnow(),
                        },
                    )
        return len(claimed)

    async def work(self, conversation_id: str, claimed_until: datetime) -> None:
        work = await self._read(conversation_id)
        if work is None:
            return
        model = analysis_model(
            work.config,
            self.settings.engines,
            work.credentials,
            self.settings.max_tokens,
            embedded=self.settings.embedded_model,
        )
        analysis = await offline_analysis(work.lines, self.embedding)
        try:
            await ask_model(
                analysis,
                work.lines,
                work.config.analysis,
                language=work.config.language,
                model=model,
            )
        except ModelUnreachableError as exc:
            values = self._failed(work.attempts, str(exc), analysis)
            logger.warning("analysis of %s: %s", conversation_id, exc)
        else:
            problem = analysis.problem or (EMBEDDED_MODEL_SKIPPED if model is None else None)
            values = {**_stored(analysis), "status": COMPLETED, "error": problem}
            values |= {"finished_at": utcnow(), "model": work.config.llm_model}
        async with self.sessions() as session, session.begin():
            stored = await AnalysisRepository(session).finish(
                conversation_id=conversation_id, claimed_until=claimed_until, values=values
            )
            if stored and values["status"] != PENDING:
                await enqueue(
                    session,
                    work.conversation.company_id,
                    "conversation.analyzed",
                    analyzed_event(work.conversation, values),
                )
        if model is not None:
            await model.aclose()
        if not stored:
            logger.warning("analysis of %s: claim lost; another job finishes it", conversation_id)

    def _failed(self, attempts: int, reason: str, offline: Analysis) -> dict[str, Any]:
        error = f"the language model could not be reached: {reason}"[:1000]
        if attempts < self.settings.max_attempts:
            wait = self.settings.retry_base * 2 ** (attempts - 1)
            return {
                "status": PENDING,
                "error": error,
                "locked_until": utcnow() + timedelta(seconds=wait),
            }
        return {**_stored(offline), "status": FAILED, "error": error, "finished_at": utcnow()}

    async def _read(self, conversation_id: str) -> _Work | None:
        """What the analysis needs; None (and the analysis dropped) when it is not wanted."""
        async with self.sessions() as session, session.begin():
            analyses = AnalysisRepository(session)
            job = await analyses.get_for_work(conversation_id)
            conversation = await session.get(Conversation, conversation_id)
            if job is None or conversation is None:
                return None
            agent = (
                await VoiceAgentRepository(session).get_for_call(agent_id=conversation.agent_id)
                if conversation.agent_id is not None
                else None
            )
            config = agent_config(agent) if agent is not None else AgentConfig()
            if config.privacy.zero_retention or not config.analysis.enabled:
                await analyses.discard(conversation_id=conversation_id)
                return None
            messages = await ConversationRepository(session).messages(
                conversation_id=conversation_id
            )
            credentials = (
                await agent_credentials(session, agent, self.vault)
                if agent is not None
                else ProviderCredentials()
            )
        lines = [Line(m.speaker, m.text) for m in messages if m.text.strip()]
        return _Work(conversation, lines, config, credentials, job.attempts)


EMBEDDED_MODEL_SKIPPED = (
    "the summary, intents, resolution, data and criteria need a capable language model: the "
    "agent uses the embedded one, which is not asked (it answered no usable JSON on the "
    "benchmark set; ANALYSIS_EMBEDDED_MODEL=true asks it anyway); give the agent an "
    "OpenAI-compatible llm_model"
)


def analysis_model(
    config: AgentConfig,
    engines: EngineSettings,
    credentials: ProviderCredentials,
    max_tokens: int,
    *,
    embedded: bool = False,
) -> llm.LLM | None:
    """The agent's language model (with its fallback), set to answer the analysis prompt:
    no sampling, room for the JSON. None for an agent on the embedded model unless
    `embedded` (`EMBEDDED_MODEL_SKIPPED`)."""
    if config.llm_model == LOCAL_LLM and not embedded:
        return None
    return build_llm(
        config.model_copy(update={"temperature": 0.0, "max_completion_tokens": max_tokens}),
        engines,
        credentials,
    )


async def agent_credentials(
    session: AsyncSession, agent: VoiceAgent, vault: Callable[[], ProviderKeyVault]
) -> ProviderCredentials:
    """The agent's provider keys (its own, else its company's), opened; none when they cannot
    be (sealed with a retired secret): the deployment's serve then."""
    sealed = await ProviderKeyRepository(session).for_agent(
        company_id=agent.company_id, agent_id=agent.id
    )
    if not sealed:
        return ProviderCredentials()
    try:
        opened = {name: vault().decrypt(token) for name, token in sealed.items()}
    except ValueError as exc:
        logger.warning("agent %s: provider keys unreadable: %s", agent.id, exc)
        return ProviderCredentials()
    return ProviderCredentials(elevenlabs=opened.get("elevenlabs"), openai=opened.get("openai"))


def _stored(analysis: Analysis) -> dict[str, Any]:
    return {
        "summary": analysis.summary,
        "sentiment_score": analysis.sentiment_score,
        "sentiment": analysis.sentiment,
        "message_sentiments": analysis.message_sentiments,
        "intents": analysis.intents,
        "resolution": analysis.resolution,
        "data_collected": analysis.data_collected,
        "criteria": analysis.criteria,
    }


def analyzed_event(conversation: Conversation, values: dict[str, Any]) -> dict[str, Any]:
    """`conversation.analyzed`'s data."""
    return {
        "conversation_id": conversation.id,
        "agent_id": str(conversation.agent_id) if conversation.agent_id else None,
        "channel": conversation.channel,
        "status": values["status"],
        "error": values.get("error"),
        "summary": values.get("summary"),
        "sentiment": values.get("sentiment"),
        "sentiment_score": values.get("sentiment_score"),
        "intents": values.get("intents"),
        "resolution": values.get("resolution"),
        "data_collected": values.get("data_collected"),
        "criteria": values.get("criteria"),
    }
