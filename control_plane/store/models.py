"""Tables of the store. Every row that belongs to a company carries `company_id`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[dict[str, Any]]: JSON,
    }


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key; only its SHA-256 digest is stored, the key is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, to tell keys apart in listings."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), default=None, index=True
    )
    """A key scoped to one deployment: it serves the chat API for that deployment only (a key
    a web page can carry), and dies with the deployment's revocation."""
    rate_limit: Mapped[str | None] = mapped_column(String(64), default=None)
    """A tier's name (`RATE_LIMIT_TIERS`) or a limit of the key's own (`2000/minute`); null:
    the deployment's `RATE_LIMIT`."""
    permissions: Mapped[list[str] | None] = mapped_column(default=None)
    """What the key may do (`read`, `write`, `delete`, `admin`: `security.PERMISSIONS`); null:
    everything (keys of the admin commands)."""
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    """After this the key is refused (401 saying so); null: never."""
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
    """The user who took the key with their password (`POST /v1/api/get-api-key`)."""


class User(Base):
    """A person who signs in to the web console (and may take API keys with their password);
    only the password's Argon2id hash is stored."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    """Lower-cased; one user per address across companies."""
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="admin")
    """`admin` (everything), `member` (read, write, delete) or `viewer` (read)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)


class ConsoleSession(Base):
    """A signed-in browser: the cookie carries a random token, only its digest is stored."""

    __tablename__ = "console_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Every form of the session carries it back (a request forged by another site cannot)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Deployment(Base):
    """An agent published on a channel and region (`agent:<agent_id>:<channel>:<region>`, the
    chat API's `agent_key`): API keys can be scoped to it, and revoking it cuts them all."""

    __tablename__ = "deployments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def agent_key(self) -> str:
        return f"agent:{self.agent_id}:{self.channel}:{self.region}"


class VoiceAgent(Base):
    __tablename__ = "voice_agents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(200), default=None)
    personality: Mapped[str | None] = mapped_column(String(200), default=None)
    voice_id: Mapped[str] = mapped_column(String(200))
    voice_name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean)
    temperature: Mapped[float] = mapped_column(Float)
    voice_speed: Mapped[float] = mapped_column(Float)
    voice_stability: Mapped[float] = mapped_column(Float)
    voice_similarity_boost: Mapped[float] = mapped_column(Float)
    voice_style: Mapped[float] = mapped_column(Float)
    voice_pitch: Mapped[str] = mapped_column(
        String(8), default="medium", server_default=text("'medium'")
    )
    output_format: Mapped[str] = mapped_column(String(32))
    main_agent_id: Mapped[str | None] = mapped_column(String(200))
    first_message: Mapped[str] = mapped_column(Text)
    system_prompt: Mapped[str] = mapped_column(Text)
    llm_model: Mapped[str] = mapped_column(String(200))
    llm_base_url: Mapped[str | None] = mapped_column(String(500), default=None)
    max_completion_tokens: Mapped[int] = mapped_column(
        Integer, default=80, server_default=text("80")
    )
    stt_provider: Mapped[str] = mapped_column(String(32), default="local")
    stt_model: Mapped[str | None] = mapped_column(String(100), default=None)
    turn_detection: Mapped[dict[str, Any]] = mapped_column(JSON)
    privacy: Mapped[dict[str, Any]] = mapped_column(JSON)
    custom_responses: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    max_duration_seconds: Mapped[float] = mapped_column(
        Float, default=1800.0, server_default=text("1800")
    )
    knowledge: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    tools: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    """The agent's HTTP and built-in tools; HTTP headers sealed (`control_plane.tool_secrets`)."""
    tool_settings: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    analysis: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    """What is worked out from its conversations (`agent.contract.AnalysisSettings`)."""
    assigned_tools: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderKey(Base):
    """A company's API key for a cloud provider, encrypted (`security.ProviderKeyVault`).

    `agent_id` None is the company-wide key; an agent's own key (the voice integrations API)
    takes precedence for that agent's calls.
    """

    __tablename__ = "provider_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[str] = mapped_column(Text)
    masked: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """One call: who, when, how it ended, and its per-turn latency."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[str] = mapped_column(String(128))
    room_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="ongoing", index=True)
    """`ongoing`, `success` or `failed`."""
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the agent joined the call."""
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    """The worker's last sign of life for this call (the reaper fails silent ones)."""
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recording: Mapped[str | None] = mapped_column(String(80), default=None)
    """Key of the call's recording in the recording store (none when not kept)."""
    end_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    """When `POST /conversations/{id}/end` asked for the call to end."""
    outcome: Mapped[str | None] = mapped_column(String(64), default=None)
    """The caller's business outcome given when ending it (e.g. `resolved`)."""
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """`{"rating": 1-5, "comments": "..."}` given when ending it."""
    tools_used: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    """Each tool call of the call (`schemas.conversations.ToolUse`), in order."""
    channel: Mapped[str] = mapped_column(
        String(16), default="voice", server_default=text("'voice'")
    )
    """`voice` (a call) or `chat` (a text conversation, which no worker serves: the reaper
    leaves it alone)."""
    session_id: Mapped[str | None] = mapped_column(String(128), default=None)
    """A chat's session id as its client names it (unique per company)."""
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """What the conversation was started with (`initial_context`, a chat's `context`)."""
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL"), default=None
    )
    """The deployment a chat came through, when it came through one."""

    phone_number: Mapped[str | None] = mapped_column(String(32), default=None)
    """A phone call's other party: the caller's number (inbound) or the number called."""
    direction: Mapped[str | None] = mapped_column(String(16), default=None)
    """A phone call's `inbound` or `outbound`."""
    provider_call_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    """The telephony provider's id of a phone call (Twilio's `CallSid`)."""
    telephony_status: Mapped[str | None] = mapped_column(String(16), default=None)
    """The provider's last status of a phone call (`ringing`, `in-progress`, `completed`,
    `busy`, `no-answer`, `failed`, `canceled`)."""
    transfer_to: Mapped[str | None] = mapped_column(String(64), default=None)
    """Where the call is being handed over to (a phone number), once it is."""

    __table_args__ = (
        Index("ix_conversations_company_session", "company_id", "session_id", unique=True),
    )

    @property
    def duration(self) -> float | None:
        """Seconds from the agent joining to the end of the call (None until both)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds(), 3)


class ConversationMessage(Base):
    """One final message of a call, stored when it is said."""

    __tablename__ = "conversation_messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    speaker: Mapped[str] = mapped_column(String(16))
    """`agent` or `user`."""
    text: Mapped[str] = mapped_column(Text)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Webhook(Base):
    """A company's subscription to events; the signing secret is stored encrypted."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """The outbox: one event for one subscription, delivered at least once."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    """`pending`, `delivered` or `failed` (retries exhausted)."""
    retry_count: Mapped[int] = mapped_column(default=0)
    next_retry_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    """A dispatcher holds the delivery until then; a dead one's claim simply expires."""
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class KnowledgeItem(Base):
    """A document an agent knows: a text, a URL (re-fetched every `refresh_interval` seconds)
    or a file. Ingested off the request by the knowledge job: `processing` until its passages
    are embedded and stored (`ready`), or `failed` with the reason in `error`."""

    __tablename__ = "knowledge_items"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(16))
    """`text`, `url` or `document`."""
    name: Mapped[str] = mapped_column(String(500))
    """The title, the URL or the file's name: the source a passage is quoted with."""
    category: Mapped[str | None] = mapped_column(String(200), default=None)
    url: Mapped[str | None] = mapped_column(String(2000), default=None)
    refresh_interval: Mapped[int | None] = mapped_column(Integer, default=None)
    """Seconds between fetches of a URL (None: fetched once)."""
    format: Mapped[str | None] = mapped_column(String(16), default=None)
    """How the source was read: `text`, `html`, `pdf`, `docx`, `markdown`, `csv`."""
    source: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    """What is still to ingest: a text's content or a file's bytes (cleared once ingested)."""
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="processing", index=True)
    """`processing`, `ready` or `failed`."""
    error: Mapped[str | None] = mapped_column(Text, default=None)
    chunks_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    """A knowledge job holds the item until then; a dead one's claim expires."""
    next_refresh_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ingested_at: Mapped[datetime | None] = mapped_column(default=None)


class KnowledgeChunk(Base):
    """A passage of a knowledge item, with its embedding (float32, little-endian, normalised)
    and the model that made it: vectors of different models are never compared."""

    __tablename__ = "knowledge_chunks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_items.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


class McpServer(Base):
    """A company's MCP server: where it is, how to reach it (headers sealed like provider
    keys), and what it offered when last checked."""

    __tablename__ = "mcp_servers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    transport: Mapped[str] = mapped_column(String(32))
    """`streamable_http` or `sse`."""
    headers_ciphertext: Mapped[str | None] = mapped_column(Text, default=None)
    """The headers sent to it (JSON), encrypted."""
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    """`connected`, `error` (see `last_error`) or `unknown` (not checked yet)."""
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """What it offered when last checked: name, description, parameters."""
    checked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhoneNumber(Base):
    """A company's phone number at a telephony provider, and the agent that answers it."""

    __tablename__ = "phone_numbers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="SET NULL"), index=True
    )
    """Who answers it (none: calls to it are refused)."""
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """E.164, `+15550001111`: a number belongs to one company."""
    provider: Mapped[str] = mapped_column(String(16), default="twilio")
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomVoice(Base):
    """A voice a company made at a speech provider: designed from a description
    (`user_designed`) or cloned from recordings (`user_trained`). The company owns it: only
    its agents may speak with it, and it cannot be deleted while one does."""

    __tablename__ = "custom_voices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    voice_id: Mapped[str] = mapped_column(String(200), unique=True)
    """The provider's id: what an agent's `voice_id` names."""
    provider: Mapped[str] = mapped_column(String(16), default="elevenlabs")
    source: Mapped[str] = mapped_column(String(16))
    """`user_designed` or `user_trained`."""
    name: Mapped[str] = mapped_column(String(200))
    gender: Mapped[str | None] = mapped_column(String(16), default=None)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="SET NULL"), default=None
    )
    """The agent it was made through (the voice stays when that agent goes)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VoicePreviewJob(Base):
    """A voice saying a text, synthesised off the request: `pending` until a job claims it,
    `processing`, then `completed` with its audio or `failed` with the reason. Gone after
    `expires_at` (the retention purge)."""

    __tablename__ = "voice_preview_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("voice_agents.id", ondelete="CASCADE"), index=True
    )
    voice_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    audio: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    """MP3, once completed."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    """A job holds it until then; a dead job's claim expires and another takes it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ConversationAnalysis(Base):
    """What was worked out from a conversation after it ended: `pending` until a job claims
    it, `processing`, then `completed` with its results or `failed` with the reason. Goes with
    its conversation."""

    __tablename__ = "conversation_analyses"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    """A job holds it until then; a dead job's claim expires and another takes it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    sentiment_score: Mapped[float | None] = mapped_column(default=None)
    """The caller's overall sentiment in [-1, 1]."""
    sentiment: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    """`positive`, `neutral` or `negative`."""
    message_sentiments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    """`[{"index", "score", "label"}]` for each of the caller's messages (`index` in the
    transcript)."""
    intents: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    resolution: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    """`resolved`, `unresolved` or `escalated`."""
    data_collected: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    criteria: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """`{id: {"result": true|false|null, "evidence": "..."}}`."""
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    """The language model that wrote the summary, intents, resolution and data."""
