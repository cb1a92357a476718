"""Control-plane settings, read from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.settings import CloudSettings, EngineSettings, ProviderCredentials
from shared.egress import EgressPolicy, parse_networks
from shared.logs import LogFormat, secret_values

from .recordings import RecordingStore

DEV_API_KEY = "devkey"
DEV_API_SECRET = "devsecret-0123456789abcdef0123456789abcdef"  # matches livekit.yaml
DEFAULT_DATA_DIR = Path("data")


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    """The SQLite file used when `DATABASE_URL` is not set."""
    return f"sqlite+aiosqlite:///{data_dir / 'voice-agents.db'}"


class StoreSettings(BaseSettings):
    """Where the store lives; shared by the control plane and the worker."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    """Directory for the default SQLite database (created on first start)."""
    database_url: str = ""
    """SQLAlchemy async URL, e.g. `postgresql+asyncpg://user:pw@host/db`; default: SQLite in
    `data_dir`."""

    provider_keys_secret: SecretStr | None = None
    """Fernet key(s) encrypting provider API keys at rest, comma-separated for rotation (the
    first encrypts). Default: a secret generated into `data_dir/provider-keys.secret`."""

    recordings_url: str = ""
    """Where call recordings are stored: a directory, `file://` URL or fsspec object-store
    URL (`s3://bucket/prefix` with `s3fs` installed); default `data_dir/recordings`."""
    recording_format: Literal["ogg", "mp3"] = "ogg"
    """Stereo Ogg/Opus (caller left, agent right), or the same transcoded to MP3."""

    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url(self.data_dir)

    def recording_store(self) -> RecordingStore:
        return RecordingStore(self.recordings_url or str(self.data_dir / "recordings"))

    def provider_keys_secret_path(self) -> Path:
        return self.data_dir / "provider-keys.secret"


class ServiceSettings(StoreSettings):
    """The store and the LiveKit deployment: shared by the control plane and the worker."""

    livekit_url: str = "ws://127.0.0.1:7880"
    """livekit-server's URL (the control plane returns it to callers in
    `connection_details`)."""
    livekit_api_key: str = DEV_API_KEY
    livekit_api_secret: SecretStr = SecretStr(DEV_API_SECRET)
    agent_name: str = Field(default="voice-agent", validation_alias="VOICE_AGENT_NAME")
    """Explicit-dispatch name the workers register under."""
    model_cache_dir: str | None = None
    """Where models joined at setup are kept (the multilingual Whisper base); default
    `$XDG_CACHE_HOME/voice-agent-runtime/models` (read by `pipelines.whisper_base`)."""

    elevenlabs_base_url: str = "https://api.elevenlabs.io/v1"
    openai_base_url: str = "https://api.openai.com/v1"
    """Cloud provider endpoints (any OpenAI-compatible server for `openai_base_url`)."""
    elevenlabs_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    """Deployment-wide provider keys, used when neither the agent nor its company has one."""
    provider_timeout_seconds: float = 5.0
    """How long one attempt at a cloud provider may take."""
    tts_timeout_seconds: float = 2.0
    """How long a cloud voice may take to start speaking before it is retried (once), then
    replaced by the local voice."""
    llm_base_url: str = "http://127.0.0.1:8088/v1"
    """The embedded LLM server (`make run` starts it): agents whose model is `local`, and
    every agent's fallback. The worker's calls and the control plane's chats both use it."""
    llm_api_key: SecretStr | None = None

    egress_allowed_networks: str = ""
    """Networks that URLs set by tenants (webhooks, an agent's `llm_base_url`) may reach
    although they are not public (`127.0.0.0/8,10.1.0.0/16`); empty: public addresses only
    (`shared.egress`)."""

    @field_validator("egress_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.from_setting(self.egress_allowed_networks)

    def llm_engine_settings(self) -> EngineSettings:
        """Where the models are, without the local speech engines (the text chat's; the
        worker adds its speech engines)."""
        return EngineSettings(
            llm_base_url=self.llm_base_url,
            llm_api_key=_secret(self.llm_api_key),
            cloud=CloudSettings(
                elevenlabs_base_url=self.elevenlabs_base_url,
                openai_base_url=self.openai_base_url,
                timeout=self.provider_timeout_seconds,
                tts_timeout=self.tts_timeout_seconds,
            ),
            credentials=ProviderCredentials(
                elevenlabs=_secret(self.elevenlabs_api_key), openai=_secret(self.openai_api_key)
            ),
            egress=self.egress_policy(),
        )

    log_format: LogFormat | None = None
    """`text` or `json` (one object per line, `shared.logs`); default: text for the control
    plane, livekit-agents' own for the worker (JSON under `start`, coloured under `dev`)."""

    def log_secrets(self) -> list[str]:
        """Values masked in every log line."""
        return secret_values(
            self.livekit_api_secret,
            self.provider_keys_secret,
            self.elevenlabs_api_key,
            self.openai_api_key,
            self.llm_api_key,
        )


class Settings(ServiceSettings):
    """Everything the control-plane process reads from its environment."""

    host: str = Field(default="127.0.0.1", validation_alias="CONTROL_PLANE_HOST")
    port: int = Field(default=8000, validation_alias="CONTROL_PLANE_PORT")
    auto_migrate: bool = True
    """Apply database migrations at start-up."""
    metrics_enabled: bool = True
    """Serve Prometheus metrics on `GET /metrics` (no API key: expose it to your scraper only)."""
    metrics_cache_seconds: float = Field(default=5.0, ge=0)
    """How long the metrics read from the store (webhook backlog, ongoing calls) are reused."""

    call_token_ttl_seconds: int = 600
    """How long a call's token admits the caller; a call not joined by then is failed."""
    public_url: str = ""
    """This control plane's address as a telephony provider reaches it
    (`https://voice.example.com`): the provider's webhooks are signed for that URL. Empty: the
    address each request came to."""
    telephony_gateway_url: str = "ws://127.0.0.1:8765/twilio/media"
    """The phone gateway's media-stream URL as the provider reaches it (`wss://...`)."""
    twilio_base_url: str = "https://api.twilio.com"
    phone_ring_seconds: int = Field(default=30, ge=5, le=600)
    """How long an outgoing call rings before it is `no-answer`."""
    webhook_dispatcher: bool = True
    """Deliver webhooks from this process (any number of control planes may)."""
    webhook_poll_seconds: float = 0.5
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 8
    webhook_retry_base_seconds: float = 2.0
    """First retry after this; doubled each time (2, 4, 8 ... s), at most an hour."""
    webhook_lease_seconds: float = 30.0
    """A dispatcher holds the deliveries it claimed this long; those of a dispatcher that
    died are delivered by another once it passes. Longer than a delivery may take
    (`webhook_timeout_seconds`), so that no other dispatcher sends one still in flight."""
    knowledge_ingester: bool = True
    """Ingest knowledge-base items from this process (any number of control planes may)."""
    knowledge_poll_seconds: float = Field(default=2.0, gt=0)
    knowledge_lease_seconds: float = Field(default=300.0, gt=0)
    """An ingestion job holds an item this long; a dead job's items are taken over after."""
    knowledge_embed_batch: int = Field(default=64, ge=1)
    """Passages embedded between renewals of an item's claim (a long document keeps it)."""
    knowledge_max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest knowledge-base file (413 beyond)."""
    voice_previews: bool = True
    """Make voice previews from this process (any number of control planes may)."""
    voice_preview_poll_seconds: float = Field(default=2.0, gt=0)
    voice_preview_lease_seconds: float = Field(default=120.0, gt=0)
    """A preview job holds a preview this long; a dead job's are taken over after."""
    voice_preview_hours: float = Field(default=24.0, gt=0)
    """How long a preview (its audio) is kept."""
    analysis: bool = True
    """Analyse conversations after they end from this process (any number of control planes
    may)."""
    analysis_poll_seconds: float = Field(default=2.0, gt=0)
    analysis_lease_seconds: float = Field(default=300.0, gt=0)
    """An analysis job holds a conversation this long; a dead job's are taken over after."""
    analysis_max_attempts: int = Field(default=3, ge=1, le=20)
    """Tries of an analysis whose language model cannot be reached before it is `failed`."""
    analysis_retry_seconds: float = Field(default=30.0, ge=0)
    """Wait before the first retry; doubled each time."""
    analysis_max_tokens: int = Field(default=700, ge=50, le=8192)
    """Longest answer of the model to the analysis prompt."""
    analysis_embedded_model: bool = False
    """Ask the embedded model for the summary, intents, resolution, data and criteria of its
    agents' conversations. Off: on the benchmark set it answered no usable JSON, and each
    analysis held the embedded model (which live calls share) for 10-15 s; those agents get
    the offline sentiment only."""
    voice_clone_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    """Largest recording a voice is cloned from (`audio_url`, seed 001's samples)."""
    knowledge_max_items_per_agent: int = Field(default=200, ge=1)
    knowledge_max_text_chars: int = Field(default=200_000, ge=100)
    knowledge_url_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    """Largest page or file a knowledge-base URL may answer with."""
    knowledge_url_timeout_seconds: float = Field(default=20.0, gt=0)
    knowledge_min_refresh_seconds: int = Field(default=300, ge=1)
    """Shortest `refresh_interval` a URL may have."""
    retention_interval_seconds: float = 3600.0
    """How often calls older than their agent's `privacy.retention_days` are deleted."""
    webhook_log_days: int = Field(default=30, ge=1)
    """Finished webhook deliveries (and the payloads they carry) are kept this long."""
    reaper_interval_seconds: float = 15.0
    reaper_stale_seconds: float = 45.0
    """An ongoing call without a heartbeat from its worker for this long (the worker beats
    every 10 s) lost its worker and is marked failed."""

    rate_limit: str = "600/minute"
    """Requests per API key (`limits` notation: `100/minute`, `10/second;600/hour`), for keys
    without a rate limit of their own."""
    rate_limit_tiers: dict[str, str] = Field(
        default_factory=lambda: {"standard": "100/minute", "pro": "500/minute"}
    )
    """Named limits a key can be given (`create-key --rate-limit pro`); JSON in the
    environment. A key can also be given a limit of its own (`--rate-limit 2000/minute`, an
    enterprise key)."""
    redis_url: str = ""
    """Redis shared by every control plane (`redis://host:6379/0`): rate limits count there,
    across all of them. Empty: each process counts in its own memory."""
    auth_failure_limit: str = "30/minute"
    """Failed authentications per client address; beyond it, 429 until the window passes
    (behind a proxy, run uvicorn with `--forwarded-allow-ips` so the address is the client's)."""
    sign_in_failure_limit: str = "5/minute;20/hour"
    """Wrong passwords (console sign-in, `POST /v1/api/get-api-key`) per email; beyond it,
    429 until the window passes. They also count per client address in
    `auth_failure_limit`."""
    console_session_hours: float = 12.0
    """How long a console sign-in lasts."""
    chat_conversations_rate_limit: str = "100/minute"
    """The chat API's conversation management, per API key (beside `rate_limit`)."""
    chat_rate_limit: str = "60/minute"
    """The chat API's `agent/chat` (a whole reply per request), per API key."""
    chat_stream_rate_limit: str = "30/minute"
    """The chat API's `agent/stream` (a reply streamed as events), per API key."""
    chat_audio_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest audio message the chat API takes (413 beyond)."""
    chat_audio_max_seconds: float = 120.0
    chat_streams_per_agent: int = Field(default=1000, ge=1)
    """Replies one control plane streams at once from one agent's model (its connections to
    the provider; beyond it, a chat waits for a free one and fails after 5 s)."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest JSON body; larger requests are refused (413) before they are read."""
    max_webhooks_per_company: int = Field(default=20, ge=1)
    max_agents_per_company: int = Field(default=1000, ge=1)
    stt_max_upload_bytes: int = 25 * 1024 * 1024
    stt_max_seconds: float = 600.0
    tts_max_characters: int = 5000
    whisper_model: str | None = None
    """Whisper model for `/voice-agents/stt` in English; local TTS voices follow `PIPER_VOICE`
    and `PIPER_VOICES_DIR` (see `voices.catalog`)."""
    whisper_multilingual_model: str | None = None
    """Whisper model for other languages and for detecting the language (default: Whisper
    base, joined from its PyPI halves into `MODEL_CACHE_DIR`)."""

    @model_validator(mode="after")
    def _lease_outlasts_delivery(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "WEBHOOK_LEASE_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS "
                f"({self.webhook_lease_seconds} <= {self.webhook_timeout_seconds}): another "
                "dispatcher would send a delivery still in flight"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
