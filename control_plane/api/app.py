"""The FastAPI application: routes, error handlers, store lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from knowledge.sources import FetchLimits

from ..analysis.sentiment import EmbeddingSentiment
from ..jobs.analysis import AnalysisJobSettings, Analyst
from ..jobs.knowledge import Ingester, IngestSettings
from ..jobs.reaper import run_reaper
from ..jobs.retention import run_purge
from ..jobs.voice_previews import PreviewMaker, PreviewSettings
from ..jobs.webhooks import Dispatcher, DispatchSettings
from ..security import ProviderKeyVault
from ..services.chat import ChatModels
from ..settings import Settings, get_settings
from ..store.db import create_engine, session_factory
from ..store.migrate import upgrade
from . import metrics
from .compat import account as compat_account
from .compat import agents as compat_agents
from .compat import analytics as compat_analytics
from .compat import calls as compat_calls
from .compat import chat as compat_chat
from .compat import chat_api
from .compat import conversations as compat_conversations
from .compat import knowledge as compat_knowledge
from .compat import mcp as compat_mcp
from .compat import voices as compat_voices
from .console import install_console
from .errors import install_error_handlers
from .guard import GuardSettings, RequestGuard
from .routes import (
    analysis,
    analytics,
    conversations,
    integrations,
    phone,
    speech,
    voice_agents,
    voice_making,
    voices,
    webhooks,
)
from .routes.health import router as health_router
from .routes.integrations import endpoints as provider_endpoints
from .routes.speech import speech_engines_of


def create_app(settings: Settings | None = None) -> FastAPI:
    """The control-plane app; `settings` default to the environment's."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url())
        if settings.auto_migrate:
            await upgrade(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.chat_models = ChatModels(app.state.sessions, settings)
        app.state.sentiment = EmbeddingSentiment()
        reaper = asyncio.create_task(
            run_reaper(
                app.state.sessions,
                interval=settings.reaper_interval_seconds,
                stale_seconds=settings.reaper_stale_seconds,
                join_seconds=settings.call_token_ttl_seconds,
            ),
            name="conversation-reaper",
        )
        purger = asyncio.create_task(
            run_purge(
                app.state.sessions,
                settings.recording_store(),
                interval=settings.retention_interval_seconds,
                webhook_log_days=settings.webhook_log_days,
            ),
            name="retention-purge",
        )
        tasks = [reaper, purger]
        if settings.webhook_dispatcher:
            dispatcher = Dispatcher(
                app.state.sessions,
                ProviderKeyVault.from_settings(settings),
                DispatchSettings(
                    poll_interval=settings.webhook_poll_seconds,
                    timeout=settings.webhook_timeout_seconds,
                    max_attempts=settings.webhook_max_attempts,
                    retry_base=settings.webhook_retry_base_seconds,
                    lease=settings.webhook_lease_seconds,
                    egress=settings.egress_policy(),
                ),
            )
            tasks.append(asyncio.create_task(dispatcher.run(), name="webhook-dispatcher"))
        if settings.knowledge_ingester:
            ingester = Ingester(
                app.state.sessions,
                lambda: ProviderKeyVault.from_settings(settings),
                IngestSettings(
                    poll_interval=settings.knowledge_poll_seconds,
                    lease=settings.knowledge_lease_seconds,
                    embed_batch=settings.knowledge_embed_batch,
                    egress=settings.egress_policy(),
                    fetch=FetchLimits(
                        max_bytes=settings.knowledge_url_max_bytes,
                        timeout=settings.knowledge_url_timeout_seconds,
                    ),
                    openai_base_url=settings.openai_base_url,
                    openai_api_key=(
                        settings.openai_api_key.get_secret_value()
                        if settings.openai_api_key
                        else None
                    ),
                ),
            )
            app.state.ingester = ingester
            tasks.append(asyncio.create_task(ingester.run(), name="knowledge-ingester"))
        if settings.voice_previews:
            previews = PreviewMaker(
                app.state.sessions,
                lambda: ProviderKeyVault.from_settings(settings),
                lambda: speech_engines_of(app),
                PreviewSettings(
                    endpoints=provider_endpoints(settings),
                    poll_interval=settings.voice_preview_poll_seconds,
                    lease=settings.voice_preview_lease_seconds,
                    deployment_key=(
                        settings.elevenlabs_api_key.get_secret_value()
                        if settings.elevenlabs_api_key
                        else None
                    ),
                ),
            )
            app.state.previews = previews
            tasks.append(asyncio.create_task(previews.run(), name="voice-previews"))
        if settings.analysis:
            analyst = Analyst(
                app.state.sessions,
                lambda: ProviderKeyVault.from_settings(settings),
                AnalysisJobSettings(
                    engines=settings.llm_engine_settings(),
                    poll_interval=settings.analysis_poll_seconds,
                    lease=settings.analysis_lease_seconds,
                    max_attempts=settings.analysis_max_attempts,
                    retry_base=settings.analysis_retry_seconds,
                    max_tokens=settings.analysis_max_tokens,
                    embedded_model=settings.analysis_embedded_model,
                ),
                app.state.sentiment,
            )
            app.state.analyst = analyst
            tasks.append(asyncio.create_task(analyst.run(), name="conversation-analysis"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.state.chat_models.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Voice Agents API",
        version="0.1.0",
        description=(
            "Manage voice agents, voices, speech and calls. Every request carries the "
            "company's API key in the `x-api-key` header."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.guard = RequestGuard(
        GuardSettings(
            max_body_bytes=settings.max_body_bytes,
            # multipart framing around the largest file
            max_upload_bytes=max(settings.stt_max_upload_bytes, settings.chat_audio_max_bytes)
            + 64 * 1024,
            rate_limit=settings.rate_limit,
            rate_limit_tiers=settings.rate_limit_tiers,
            auth_failure_limit=settings.auth_failure_limit,
            sign_in_failure_limit=settings.sign_in_failure_limit,
            redis_url=settings.redis_url,
            route_limits={
                "chat_conversations": settings.chat_conversations_rate_limit,
                "chat": settings.chat_rate_limit,
                "chat_stream": settings.chat_stream_rate_limit,
            },
        )
    )
    install_error_handlers(app)
    app.include_router(health_router)
    # Static paths before `/voice-agents/{id}`.
    app.include_router(analytics.router)
    app.include_router(voices.router)
    app.include_router(speech.router)
    app.include_router(voice_agents.router)
    app.include_router(analysis.router)
    app.include_router(conversations.router)
    app.include_router(phone.router)  # before `/integrations/{provider}`
    app.include_router(voice_making.router)
    app.include_router(integrations.router)
    app.include_router(webhooks.router)
    app.include_router(compat_account.router)
    app.include_router(compat_analytics.router)
    app.include_router(compat_agents.router)
    app.include_router(compat_conversations.router)
    app.include_router(compat_knowledge.router)
    app.include_router(compat_mcp.router)
    app.include_router(compat_voices.router)
    app.include_router(compat_chat.router)
    app.include_router(compat_calls.router)
    app.include_router(chat_api.router)
    install_console(app)
    if settings.metrics_enabled:
        metrics.install(app, cache_seconds=settings.metrics_cache_seconds)
    _drop_default_422(app)
    return app


def _drop_default_422(app: FastAPI) -> None:
    """Validation errors are answered with 400 (see `errors`); say so in the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
