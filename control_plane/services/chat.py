"""Text chat with an agent: the same instructions, knowledge, tools and LLM chain as its calls
(`agent.text`, `agent.prompt`, `agent.tools`, `pipelines.build_llm`), stored like a call.

A chat is a conversation of channel `chat`. Each turn stores the user's message before the
model is asked (and fires `message.received`), then the agent's reply as it was sent: all
of it, or, when the client left or the model failed mid-reply, the part already sent (marked
`interrupted`). Tool calls go on the record (`tools_used`) with their `tool.executed` /
`tool.failed` webhooks. The first turn fires `conversation.started`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from livekit.agents import llm
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.contract import AgentConfig
from agent.knowledge import Retriever
from agent.mcp import call_toolsets
from agent.prompt import instructions
from agent.text import Knowledge, ReplyEvent, TextDelta, ToolRan, history, reply
from agent.tools import ToolHooks, build_tools, tool_use
from pipelines.embeddings import build_embedder
from pipelines.factory import build_llm
from pipelines.settings import EngineSettings

from ..agent_loader import StoredAgent
from ..jobs.webhooks import enqueue
from ..settings import Settings
from ..store.models import ApiKey, Conversation, Deployment, utcnow
from ..store.repositories import (
    AnalysisRepository,
    ConversationRepository,
    DeploymentRepository,
    StorePassages,
)

logger = logging.getLogger("control_plane.chat")

HISTORY_MESSAGES = 40
"""The latest messages of a chat the model reads (older ones are kept, not re-read)."""


class ChatError(Exception):
    """A chat turn that cannot be served; `status` and the message say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class TurnResult:
    """What a finished turn said and did."""

    text: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    best_score: float | None = None
    """The best knowledge passage's score, when the agent has knowledge."""
    ended: bool = False
    """The agent ended the conversation (`end_call`) or handed it over."""
    handed_over: bool = False
    """The agent handed the conversation over (to a person or another agent)."""
    error: str | None = None
    response_ms: int = 0


async def open_chat(
    session: AsyncSession,
    agent: StoredAgent,
    *,
    session_id: str | None,
    user_id: str,
    title: str | None = None,
    context: Mapping[str, Any] | None = None,
    deployment_id: uuid.UUID | None = None,
    defer: bool = False,
) -> Conversation:
    """The company's chat `session_id` with `agent`, created when new (committed); with
    `defer`, a new one is left for its first turn to store (`ChatTurn`, one transaction)."""
    conversations = ConversationRepository(session)
    if session_id is not None:
        row = await conversations.chat_session(company_id=agent.company_id, session_id=session_id)
        if row is not None:
            if row.agent_id != agent.agent_id:
                raise ChatError(409, f"session {session_id!r} belongs to another agent")
            if context:
                row.context = {**(row.context or {}), **context}
                await session.commit()
            return row
    conversation_id = f"chat_{uuid.uuid4().hex}"
    now = utcnow()
    row = Conversation(
        id=conversation_id,
        company_id=agent.company_id,
        agent_id=agent.agent_id,
        user_id=user_id,
        room_name="",
        status="ongoing",
        channel="chat",
        session_id=session_id or conversation_id,
        title=title,
        context=dict(context) if context else None,
        deployment_id=deployment_id,
        started_at=now,
        last_seen_at=now,
        tools_used=[],
        metrics={},
    )
    if defer:
        return row
    session.add(row)
    await enqueue(session, agent.company_id, "conversation.started", ids(row))
    await session.commit()
    return row


async def chat_of(
    session: AsyncSession,
    company_id: uuid.UUID,
    conversation_id: str,
    *,
    deployment_id: uuid.UUID | None = None,
    calls: bool = False,
) -> Conversation:
    """The company's chat `conversation_id` (one its deployment-scoped key may read, when
    `deployment_id`; with `calls`, also a call, which a chat may continue in text once it
    ended: 409 while it goes on); `ChatError` 404 otherwise."""
    row = await ConversationRepository(session).get(
        company_id=company_id, conversation_id=conversation_id
    )
    if (
        row is None
        or (row.channel != "chat" and not (calls and row.channel == "voice"))
        or (deployment_id is not None and row.deployment_id != deployment_id)
    ):
        raise ChatError(404, f"conversation {conversation_id!r} not found")
    if row.channel == "voice" and row.status == "ongoing":
        raise ChatError(
            409, f"conversation {conversation_id!r} is a call still going on: continue it in "
            "text once it has ended",
        )  # fmt: skip
    return row


AGENT_KEY_PATTERN = (
    r"^agent:(?P<agent>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}):(?P<channel>[A-Za-z0-9_.-]{1,32}):(?P<region>[A-Za-z0-9_.-]{1,64})$"
)
AGENT_KEY = re.compile(AGENT_KEY_PATTERN)
AGENT_KEY_FORMAT = "agent:<agent_id>:<channel>:<region>"


@dataclass(frozen=True)
class AgentKey:
    """The chat API's `agent_key`: which agent, published on which channel and region."""

    agent_id: uuid.UUID
    channel: str
    region: str

    @classmethod
    def parse(cls, value: str) -> AgentKey:
        match = AGENT_KEY.fullmatch(value.strip())
        if match is None:
            raise ChatError(400, f"Invalid agent_key format: expected {AGENT_KEY_FORMAT}")
        return cls(uuid.UUID(match["agent"]), match["channel"], match["region"])


async def deployment_for(
    session: AsyncSession, key: ApiKey, agent_key: AgentKey
) -> Deployment | None:
    """The deployment a chat with `agent_key` goes through, for the request's key: the
    company's live deployment of that agent on that channel and region, or none when the agent
    was never deployed there (a company-wide key may talk to its agents directly). `ChatError`
    403 when every such deployment was revoked, or the key is scoped to another deployment."""
    rows = await DeploymentRepository(session).matching(
        company_id=key.company_id,
        agent_id=agent_key.agent_id,
        channel=agent_key.channel,
        region=agent_key.region,
    )
    live = [row for row in rows if row.revoked_at is None]
    if key.deployment_id is not None:
        if not any(row.id == key.deployment_id for row in live):
            raise ChatError(403, "This API key serves another deployment")
        return next(row for row in live if row.id == key.deployment_id)
    if rows and not live:
        raise ChatError(403, "This agent's deployment on that channel and region was revoked")
    return live[0] if live else None


def ids(row: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": row.id,
        "agent_id": str(row.agent_id) if row.agent_id else None,
        "user_id": row.user_id,
        "channel": row.channel,
    }


class ChatModels:
    """Each agent's LLM and knowledge retriever, kept across its chat turns (the latest
    `size` agents): a turn reuses the model's connections to its provider. An agent changed
    (its `version`) or given other keys gets new ones."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, size: int = 256
    ) -> None:
        self.sessions = sessions
        self.engine_settings = settings.llm_engine_settings()
        self.streams = settings.chat_streams_per_agent
        self.passages = StorePassages(sessions)
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], tuple[llm.LLM, Retriever]] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def of(self, agent: StoredAgent) -> tuple[llm.LLM, Retriever]:
        key = (agent.agent_id, agent.version, agent.credentials)
        entry = self._entries.get(key)
        if entry is None:
            settings = self.engine_settings
            model = build_llm(agent.config, settings, agent.credentials, streams=self.streams)
            entry = self._entries[key] = (model, self._retriever(agent, settings))
            while len(self._entries) > self.size:
                _, (old, _) = self._entries.popitem(last=False)
                task = asyncio.create_task(old.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self._entries.move_to_end(key)
        return entry

    def _retriever(self, agent: StoredAgent, settings: EngineSettings) -> Retriever:
        knowledge = agent.config.knowledge
        credentials = agent.credentials.or_else(settings.credentials)
        embedder = build_embedder(
            knowledge,
            api_key=credentials.openai,
            egress=settings.egress,
            default_base_url=settings.cloud.openai_base_url,
        )
        # Each turn asks the store for the knowledge's revision (one query): an item added or
        # deleted applies to the next message, as the search API shows it.
        return Retriever(agent.agent_id, self.passages, embedder, knowledge, recheck_seconds=0)

    async def aclose(self) -> None:
        models = [model for model, _ in self._entries.values()]
        self._entries.clear()
        await asyncio.gather(*(m.aclose() for m in models), *self._closing, return_exceptions=True)


class ChatTurn:
    """One user message and the agent's reply in a chat, recorded as it goes."""

    def __init__(
        self,
        models: ChatModels,
        agent: StoredAgent,
        conversation: Conversation,
        message: str,
        prior: list[tuple[str, str]] | None = None,
    ) -> None:
        self.models = models
        self.sessions = models.sessions
        self.agent = agent
        self.conversation = conversation
        self.new = inspect(conversation).transient
        """A conversation not stored yet: stored with the first message, in one transaction."""
        self.config: AgentConfig = agent.config
        self.conversation_id = conversation.id
        self.company_id = conversation.company_id
        self.ids = ids(conversation)
        self.context = conversation.context or {}
        self.message = message
        self.prior = prior or []
        """Earlier messages the client sent along (`(role, text)`), read by the model when the
        conversation has none stored."""
        self.keep = not self.config.privacy.zero_retention
        self.result = TurnResult()

    async def run(self) -> AsyncGenerator[ReplyEvent]:
        """The reply's events as they come; the turn is on the record when this ends (also
        when the consumer stops early: closing the generator stores what was sent)."""
        started = time.perf_counter()
        past = await self._history()
        ctx = history(instructions(self.config, self.context), past, question=self.message)
        settings = self.models.engine_settings
        model, retriever = self.models.of(self.agent)
        hooks = ToolHooks(end_call=self._end, transfer=self._transfer, retriever=retriever)
        toolsets = call_toolsets(list(self.agent.mcp), settings.egress)
        tools: list[llm.Tool | llm.Toolset] = [*build_tools(self.config, hooks, settings.egress)]
        sent: list[str] = []
        complete = False
        # Written while the model is asked (it takes longer); awaited before any reply goes out.
        stored = asyncio.create_task(self._store_user_message())
        try:
            async with contextlib.AsyncExitStack() as stack:
                for toolset in toolsets:
                    with contextlib.suppress(Exception):  # a server that is down: no tools
                        await toolset.setup()
                        stack.push_async_callback(toolset.aclose)
                        tools.append(toolset)
                async for event in reply(model, ctx, tools, knowledge=retriever):
                    if not stored.done():
                        await asyncio.shield(stored)  # a client leaving does not stop it
                    stored.result()
                    if isinstance(event, TextDelta):
                        sent.append(event.text)
                    elif isinstance(event, ToolRan):
                        self.result.tools.append(self._tool_use(event))
                    elif isinstance(event, Knowledge) and event.passages:
                        self.result.best_score = round(event.passages[0].score, 3)
                    yield event
            complete = True
        except Exception as exc:
            logger.warning("chat %s: the reply failed: %s", self.conversation_id, exc)
            self.result.error = str(exc) or type(exc).__name__
            raise
        finally:
            self.result.text = "".join(sent).strip()
            self.result.response_ms = round((time.perf_counter() - started) * 1000)
            # Also when the client left (the request's task cancelled): what was sent is kept.
            with anyio.CancelScope(shield=True):
                await asyncio.wait([stored])
                if not stored.cancelled() and stored.exception() is None:
                    await self._store_reply(complete=complete)

    @property
    def resolved(self) -> bool:
        """The agent answered, without failing or handing the conversation over."""
        r = self.result
        return bool(r.text) and r.error is None and not r.handed_over

    def _tool_use(self, event: ToolRan) -> dict[str, Any]:
        return tool_use(
            name=event.name,
            config=self.config,
            ok=event.ok,
            arguments=event.arguments,
            result=event.output,
            at=event.at,
            keep_content=self.keep,
        )

    async def _end(self, reason: str) -> None:
        self.result.ended = True

    async def _transfer(self, target: str | None, reason: str) -> None:
        to = target or self.config.main_agent_id
        async with self.sessions() as session:
            await enqueue(
                session, self.company_id, "agent.handoff", {**self.ids, "to": to, "reason": reason}
            )
            await session.commit()
        self.result.ended = self.result.handed_over = True

    async def _history(self) -> list[tuple[str, str]]:
        """The conversation so far (its latest messages), for the model."""
        if self.new:
            return self.prior[-HISTORY_MESSAGES:]
        async with self.sessions() as session:
            past = await ConversationRepository(session).messages(
                conversation_id=self.conversation_id
            )
        if not past:
            return self.prior[-HISTORY_MESSAGES:]
        recent = past[-HISTORY_MESSAGES:]
        return [("user" if m.speaker == "user" else "assistant", m.text) for m in recent]

    async def _store_user_message(self) -> None:
        """Store the user's message and its webhook (with the conversation, when new)."""
        async with self.sessions() as session:
            if self.new:
                session.add(self.conversation)
                await enqueue(session, self.company_id, "conversation.started", self.ids)
            await self._message(session, "user", self.message, interrupted=False)
            await session.commit()

    async def _store_reply(self, *, complete: bool) -> None:
        async with self.sessions() as session:
            conversations = ConversationRepository(session)
            if self.result.text:
                await self._message(session, "agent", self.result.text, interrupted=not complete)
            for use in self.result.tools:
                await conversations.add_tool_use(
                    company_id=self.company_id, conversation_id=self.conversation_id, use=use
                )
                event = "tool.executed" if use["status"] == "success" else "tool.failed"
                await enqueue(session, self.company_id, event, {**self.ids, **use})
            row = await conversations.get(
                company_id=self.company_id, conversation_id=self.conversation_id
            )
            if row is not None and self.result.ended and row.status == "ongoing":
                row.status, row.end_reason, row.ended_at = "success", "agent_ended", utcnow()
                await AnalysisRepository(session).queue(
                    company_id=self.company_id, conversation_id=self.conversation_id
                )
            await session.commit()

    async def _message(
        self, session: AsyncSession, speaker: str, text: str, *, interrupted: bool
    ) -> None:
        conversations = ConversationRepository(session)
        if self.keep:
            conversations.add_message(
                conversation_id=self.conversation_id,
                speaker=speaker,
                text=text,
                interrupted=interrupted,
            )
        await conversations.touch(company_id=self.company_id, conversation_id=self.conversation_id)
        data = {
            **self.ids,
            "speaker": speaker,
            "text": text if self.keep else None,
            "interrupted": interrupted,
        }
        await enqueue(session, self.company_id, "message.received", data)
