"""`/api/v1/chat`: the chat API (seed 003). Conversations with an agent, its replies whole
(`agent/chat`) or streamed as Server-Sent Events (`agent/stream`), and the deployments a key
can be scoped to.

The agent answers as on a call (`services.chat`): its prompt, knowledge and tools, the same
LLM chain; each chat is a conversation of channel `chat`. Errors come as `{"error",
"message", "statusCode"}`; each group of routes has its own rate limit per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.sse import EventSourceResponse, format_sse_event
from sqlalchemy.ext.asyncio import AsyncSession

from agent.text import TextDelta

from ...agent_loader import AgentUnavailableError, StoredAgent, ready_agent
from ...schemas.chat import (
    ChatConversation,
    ChatConversationCreate,
    ChatConversationList,
    ChatConversationUpdate,
    ChatMessage,
    ChatMessageList,
    ChatResponse,
    DeploymentCreate,
    DeploymentKey,
    DeploymentKeyCreate,
    DeploymentOut,
    StreamEvent,
)
from ...services.chat import (
    AGENT_KEY_PATTERN,
    AgentKey,
    ChatError,
    ChatModels,
    ChatTurn,
    chat_of,
    deployment_for,
    open_chat,
)
from ...services.chat_speech import AUDIO_FORMAT, ChatSpeech, Sentences
from ...settings import Settings
from ...store.models import ApiKey, Conversation, Deployment
from ...store.repositories import (
    ApiKeyRepository,
    ConversationRepository,
    DeploymentRepository,
    VoiceAgentRepository,
)
from ..deps import KeyDep, SessionDep, SettingsDep, VaultDep
from ..errors import chat_error_responses as error_responses
from ..guard import ChatRoute, RouteLimit
from ..routes.integrations import endpoints
from ..routes.speech import speech_engines

router = APIRouter(prefix="/api/v1/chat", tags=["Chat API"], route_class=ChatRoute)

MANAGE = Depends(RouteLimit("chat_conversations"))
CHAT = Depends(RouteLimit("chat"))
STREAM = Depends(RouteLimit("chat_stream"))
MAX_PRIOR_MESSAGES = 100
MAX_OFFSET = 10_000_000
"""Beyond any list here, and within every database's integers."""


# Conversations


@router.post(
    "/conversations",
    status_code=201,
    dependencies=[MANAGE],
    responses=error_responses(400, 401, 403, 404, 409, 429),
)
async def create_conversation(
    body: ChatConversationCreate, session: SessionDep, vault: VaultDep, key: KeyDep
) -> ChatConversation:
    """Start a conversation with an agent (through one of its deployments, optionally)."""
    deployment_id = body.deployment_id or key.deployment_id
    if key.deployment_id is not None and deployment_id != key.deployment_id:
        raise HTTPException(403, "This API key serves another deployment")
    if deployment_id is not None:
        deployment = await _company_deployment(session, key, deployment_id)
        if deployment.revoked_at is not None:
            raise HTTPException(403, f"deployment {deployment_id} was revoked")
        if deployment.agent_id != body.agent_id:
            raise HTTPException(400, "deployment_id: it deploys another agent")
    agent = await _ready(session, vault, key.company_id, body.agent_id)
    try:
        row = await open_chat(
            session,
            agent,
            session_id=None,
            user_id="chat",
            title=body.title,
            context=body.context,
            deployment_id=deployment_id,
        )
    except ChatError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return _conversation(row)


@router.get("/conversations", dependencies=[MANAGE], responses=error_responses(400, 401, 429))
async def list_conversations(
    session: SessionDep,
    key: KeyDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    agent_id: uuid.UUID | None = None,
) -> ChatConversationList:
    """The company's chats, newest first (a deployment-scoped key: its deployment's)."""
    rows, total = await ConversationRepository(session).list(
        company_id=key.company_id,
        agent_id=agent_id,
        channel="chat",
        deployment_id=key.deployment_id,
        offset=offset,
        limit=limit,
    )
    return ChatConversationList(
        conversations=[_conversation(row) for row in rows],
        **_page(total, limit, offset),
    )


@router.get(
    "/conversations/{conversation_id}",
    dependencies=[MANAGE],
    responses=error_responses(401, 404, 429),
)
async def get_conversation(
    conversation_id: str, session: SessionDep, key: KeyDep
) -> ChatConversation:
    return _conversation(await _chat(session, key, conversation_id))


@router.patch(
    "/conversations/{conversation_id}",
    dependencies=[MANAGE],
    responses=error_responses(400, 401, 404, 429),
)
async def update_conversation(
    conversation_id: str, body: ChatConversationUpdate, session: SessionDep, key: KeyDep
) -> ChatConversation:
    """Rename a conversation."""
    row = await _chat(session, key, conversation_id)
    if "title" in body.model_fields_set:
        row.title = body.title
    await session.commit()
    return _conversation(row)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    dependencies=[MANAGE],
    responses=error_responses(401, 404, 429),
)
async def delete_conversation(conversation_id: str, session: SessionDep, key: KeyDep) -> Response:
    """Delete a conversation and its messages."""
    row = await _chat(session, key, conversation_id)
    await ConversationRepository(session).delete(conversation=row)
    await session.commit()
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/messages",
    dependencies=[MANAGE],
    responses=error_responses(400, 401, 404, 429),
)
async def list_messages(
    conversation_id: str,
    session: SessionDep,
    key: KeyDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ChatMessageList:
    """A conversation's messages, oldest first."""
    await _chat(session, key, conversation_id)
    rows, total = await ConversationRepository(session).messages_page(
        conversation_id=conversation_id, offset=offset, limit=limit
    )
    messages = [
        ChatMessage(
            id=row.id,
            role="user" if row.speaker == "user" else "assistant",
            content=row.text,
            created_at=row.created_at,
            interrupted=row.interrupted,
        )
        for row in rows
    ]
    return ChatMessageList(messages=messages, **_page(total, limit, offset))


# The agent's replies

AgentKeyForm = Annotated[
    str,
    Form(
        max_length=200,
        # documented, and checked by `AgentKey.parse` for the seed's own message
        json_schema_extra={"pattern": AGENT_KEY_PATTERN},
        description="`agent:<agent_id>:<channel>:<region>`",
        examples=["agent:123e4567-e89b-12d3-a456-426614174000:web:us-east-1"],
    ),
]
MessagesForm = Annotated[
    str | None,
    Form(description='Earlier messages, JSON: `[{"role": "user", "content": "Hello"}]`'),
]
QueryForm = Annotated[str | None, Form(max_length=20000, description="The user's words")]
# Not `UploadFile | None`: a form field is a file or absent, never a "null" text.
AudioForm = Annotated[UploadFile, File(description="The user's words as audio, instead of `query`")]
ConversationForm = Annotated[
    str | None,
    Form(
        max_length=64,
        description="Continue this conversation, a chat or an ended call of the agent (a new "
        "chat when absent)",
    ),
]


async def prepare(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    key: KeyDep,
    agent_key: AgentKeyForm,
    messages: MessagesForm = None,
    query: QueryForm = None,
    audio: AudioForm = None,  # type: ignore[assignment]
    conversation_id: ConversationForm = None,
) -> Prepared:
    """Everything a reply needs (the form of `agent/chat` and `agent/stream`), checked before
    anything is stored or streamed."""
    started = time.perf_counter()
    models: ChatModels = request.app.state.chat_models
    try:
        parsed = AgentKey.parse(agent_key)
        prior = _prior(messages)
        data = await _audio(audio, settings) if audio is not None else None
        if data is None and not (query or "").strip():
            raise ChatError(400, "query: field required (or send the words as audio)")
        agent = await _ready(session, vault, key.company_id, parsed.agent_id)
        deployment = await deployment_for(session, key, parsed)
        speech = ChatSpeech(
            speech_engines(request),
            agent,
            endpoints(settings),
            agent.credentials.elevenlabs,
            settings.chat_audio_max_seconds,
        )
        transcribed = await speech.transcribe(data) if data is not None else None
        conversation = await _conversation_for(
            session, agent, key, deployment, conversation_id, parsed
        )
    except ChatError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    message = transcribed if transcribed is not None else (query or "").strip()
    turn = ChatTurn(models, agent, conversation, message, prior)
    # The turn writes through sessions of its own: this one must not hold a pooled connection
    # while the reply streams (streams at once would take the whole pool and wait on it).
    await session.close()
    return Prepared(turn, speech, transcribed, started)


class Prepared:
    def __init__(
        self, turn: ChatTurn, speech: ChatSpeech, transcribed: str | None, started: float
    ) -> None:
        self.turn = turn
        self.speech = speech
        self.transcribed = transcribed
        self.started = started
        """When the request came (`time.perf_counter()`): response times count from it."""

    def elapsed_ms(self) -> int:
        return round((time.perf_counter() - self.started) * 1000)


PreparedDep = Annotated[Prepared, Depends(prepare)]


@router.post(
    "/agent/chat",
    dependencies=[CHAT],
    responses=error_responses(400, 401, 403, 404, 409, 413, 429, 502),
)
async def agent_chat(prepared: PreparedDep) -> ChatResponse:
    """The agent's whole reply to `query` (or to the words of `audio`)."""
    turn = prepared.turn
    try:
        async for _ in turn.run():
            pass
    except Exception as exc:
        raise HTTPException(502, f"the agent's model failed: {turn.result.error}") from exc
    return ChatResponse(
        conversation_id=turn.conversation_id,
        agent_response_text=turn.result.text,
        response_time_ms=prepared.elapsed_ms(),
        was_resolved=turn.resolved,
        transcribed_text=prepared.transcribed,
    )


@router.post(
    "/agent/stream",
    dependencies=[STREAM],
    response_class=Response,
    responses={
        200: {
            "description": "Server-Sent Events, each `data:` a JSON `StreamEvent`",
            "content": {"text/event-stream": {"schema": StreamEvent.model_json_schema()}},
        },
        **error_responses(400, 401, 403, 404, 409, 413, 429),
    },
)
async def agent_stream(
    prepared: PreparedDep,
    audio_output: Annotated[
        bool, Form(description="Also send each sentence's speech (`chunk` events)")
    ] = False,
) -> EventSourceResponse:
    """The agent's reply as it is written: `start`, `transcribed_text` (for audio),
    `agent_text_chunk`s, `chunk`s of speech (with `audio_output`), then `end`; `error`
    (then `end`) when the model fails mid-reply. A client that leaves stops the reply; what was
    sent is kept."""
    speech = prepared.speech if audio_output else None
    # Returned, not yielded from: a bad request is refused with its status before the stream.
    return EventSourceResponse(
        _events(prepared, speech), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def _events(prepared: Prepared, speech: ChatSpeech | None) -> AsyncIterator[str]:
    turn = prepared.turn
    cid = turn.conversation_id
    spoken: deque[tuple[str, asyncio.Task[str]]] = deque()
    sentences = Sentences()

    def speak(parts: list[str]) -> None:
        for text in parts:
            spoken.append((text, asyncio.create_task(speech.speak(text))))  # type: ignore[union-attr]

    async def said(done_only: bool) -> AsyncIterator[str]:
        while spoken and (not done_only or spoken[0][1].done()):
            text, task = spoken.popleft()
            try:
                audio = await task
            except Exception as exc:  # the reply goes on without this sentence's speech
                yield _event("error", f"speech failed: {exc}", cid)
            else:
                yield _event("chunk", audio, cid, format=AUDIO_FORMAT, text=text)

    try:
        yield _event("start", "", cid)
        if prepared.transcribed is not None:
            yield _event("transcribed_text", prepared.transcribed, cid)
        try:
            async with contextlib.aclosing(turn.run()) as events:
                async for event in events:
                    if isinstance(event, TextDelta) and event.text:
                        yield _event("agent_text_chunk", event.text, cid)
                        if speech is not None:
                            speak(sentences.push(event.text))
                    async for chunk in said(done_only=True):
                        yield chunk
        except Exception:
            yield _event("error", f"the agent's model failed: {turn.result.error}", cid)
        else:
            if speech is not None:
                speak(sentences.flush())
                async for chunk in said(done_only=False):
                    yield chunk
        yield _event(
            "end",
            turn.result.text,
            cid,
            response_time_ms=prepared.elapsed_ms(),
            was_resolved=turn.resolved,
        )
    finally:
        for _, task in spoken:
            task.cancel()


def _event(kind: str, content: str, conversation_id: str, **extra: Any) -> str:
    data = {"type": kind, "content": content, "conversation_id": conversation_id, **extra}
    return format_sse_event(data_str=json.dumps(data, ensure_ascii=False)).decode()


def _prior(messages: str | None) -> list[tuple[str, str]]:
    """The earlier messages a request sends along, as `(role, text)`; system ones are left
    out (the agent's own prompt leads)."""
    if messages is None or not messages.strip():
        return []
    try:
        items = json.loads(messages)
    except json.JSONDecodeError:
        raise ChatError(400, "messages: not valid JSON") from None
    if items is None:
        return []
    if not isinstance(items, list) or len(items) > MAX_PRIOR_MESSAGES:
        raise ChatError(400, f"messages: a JSON array of at most {MAX_PRIOR_MESSAGES} messages")
    prior = []
    for index, item in enumerate(items):
        role = item.get("role") if isinstance(item, dict) else None
        content = item.get("content") if isinstance(item, dict) else None
        if role not in ("user", "assistant", "system") or not isinstance(content, str):
            raise ChatError(
                400,
                f"messages[{index}]: an object with role user, assistant or system and a "
                "string content",
            )
        if role != "system":
            prior.append((role, content))
    return prior


async def _audio(audio: UploadFile, settings: Settings) -> bytes | None:
    """The uploaded audio's bytes; an empty part (a web form's file field left blank) is no
    audio at all."""
    limit = settings.chat_audio_max_bytes
    if audio.size is not None and audio.size > limit:
        raise ChatError(413, f"audio: larger than {limit} bytes")
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise ChatError(413, f"audio: larger than {limit} bytes")
    return data or None


async def _conversation_for(
    session: AsyncSession,
    agent: StoredAgent,
    key: ApiKey,
    deployment: Deployment | None,
    conversation_id: str | None,
    agent_key: AgentKey,
) -> Conversation:
    if conversation_id is None:
        return await open_chat(
            session,
            agent,
            session_id=None,
            user_id="chat",
            deployment_id=deployment.id if deployment else None,
            defer=True,
        )
    row = await chat_of(
        session, key.company_id, conversation_id, deployment_id=key.deployment_id, calls=True
    )
    if row.agent_id != agent_key.agent_id:
        raise ChatError(409, f"conversation {conversation_id!r} is with another agent")
    return row


async def _ready(
    session: AsyncSession, vault: Any, company_id: uuid.UUID, agent_id: uuid.UUID
) -> StoredAgent:
    try:
        return await ready_agent(session, agent_id, lambda: vault, company_id=company_id)
    except AgentUnavailableError as exc:
        status = 404 if "does not exist" in str(exc) else 409
        raise HTTPException(status, str(exc)) from None


async def _chat(session: AsyncSession, key: ApiKey, conversation_id: str) -> Conversation:
    try:
        return await chat_of(
            session, key.company_id, conversation_id, deployment_id=key.deployment_id
        )
    except ChatError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def _conversation(row: Conversation) -> ChatConversation:
    return ChatConversation(
        id=row.id,
        agent_id=row.agent_id,
        deployment_id=row.deployment_id,
        title=row.title,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.last_seen_at,
    )


def _page(total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"total": total, "limit": limit, "offset": offset, "has_more": offset + limit < total}


# Deployments


async def full_key(key: KeyDep) -> ApiKey:
    """A company-wide key: a deployment-scoped one may not manage deployments."""
    if key.deployment_id is not None:
        raise HTTPException(403, "A deployment-scoped API key cannot manage deployments")
    return key


FullKeyDep = Annotated[ApiKey, Depends(full_key)]


@router.post(
    "/deployments",
    status_code=201,
    dependencies=[MANAGE],
    responses=error_responses(400, 401, 403, 404, 429),
)
async def create_deployment(
    body: DeploymentCreate, session: SessionDep, key: FullKeyDep
) -> DeploymentOut:
    """Publish an agent on a channel and region: chats name it by its `agent_key`, and keys
    can be scoped to it (`POST /deployments/{id}/keys`)."""
    agent = await VoiceAgentRepository(session).get(
        company_id=key.company_id, agent_id=body.agent_id
    )
    if agent is None:
        raise HTTPException(404, f"agent {body.agent_id} not found")
    row = await DeploymentRepository(session).create(
        company_id=key.company_id,
        agent_id=body.agent_id,
        channel=body.channel,
        region=body.region,
        name=body.name,
    )
    await session.commit()
    return _deployment(row)


@router.get("/deployments", dependencies=[MANAGE], responses=error_responses(400, 401, 403, 429))
async def list_deployments(
    session: SessionDep, key: FullKeyDep, agent_id: uuid.UUID | None = None
) -> list[DeploymentOut]:
    rows = await DeploymentRepository(session).list(company_id=key.company_id, agent_id=agent_id)
    return [_deployment(row) for row in rows]


@router.delete(
    "/deployments/{deployment_id}",
    dependencies=[MANAGE],
    responses=error_responses(400, 401, 403, 404, 429),
)
async def revoke_deployment(
    deployment_id: uuid.UUID, session: SessionDep, key: FullKeyDep
) -> DeploymentOut:
    """Revoke a deployment: its scoped keys stop working at once, and chats naming its
    `agent_key` are refused (403)."""
    row = await _company_deployment(session, key, deployment_id)
    await DeploymentRepository(session).revoke(row)
    await session.commit()
    return _deployment(row)


@router.post(
    "/deployments/{deployment_id}/keys",
    status_code=201,
    dependencies=[MANAGE],
    responses=error_responses(400, 401, 403, 404, 409, 429),
)
async def create_deployment_key(
    deployment_id: uuid.UUID, body: DeploymentKeyCreate, session: SessionDep, key: FullKeyDep
) -> DeploymentKey:
    """An API key that serves this deployment's chat only (a key a web page may carry)."""
    row = await _company_deployment(session, key, deployment_id)
    if row.revoked_at is not None:
        raise HTTPException(409, f"deployment {deployment_id} was revoked")
    issued = await ApiKeyRepository(session).issue(
        company_id=key.company_id, name=body.name, deployment_id=row.id
    )
    await session.commit()
    return DeploymentKey(
        key_id=issued.record.id, key=issued.key, prefix=issued.record.prefix, deployment_id=row.id
    )


async def _company_deployment(
    session: AsyncSession, key: ApiKey, deployment_id: uuid.UUID
) -> Deployment:
    """The key's company's deployment `deployment_id`; 404 otherwise."""
    row = await DeploymentRepository(session).get(
        company_id=key.company_id, deployment_id=deployment_id
    )
    if row is None:
        raise HTTPException(404, f"deployment {deployment_id} not found")
    return row


def _deployment(row: Deployment) -> DeploymentOut:
    return DeploymentOut(
        id=row.id,
        agent_id=row.agent_id,
        channel=row.channel,
        region=row.region,
        name=row.name,
        agent_key=row.agent_key,
        status="revoked" if row.revoked_at else "active",
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
