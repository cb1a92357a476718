"""Which agent a job runs: the stored agent its dispatch names, or an inline config.

Dispatch metadata is JSON. `{"agent_id": "...", "agent_version": "..."}` (what the control
plane's `POST /conversations` sends) loads the agent from the store; `{"agent": {...}}`
carries a whole config inline (the simulator's ad-hoc calls); empty means the default agent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.contract import AgentConfig, InvalidAgentConfigError
from agent.mcp import McpAccess
from control_plane.agent_loader import AgentUnavailableError, StoredAgent, load_agent
from control_plane.security import ProviderKeyVault
from pipelines.errors import PipelineSetupError
from pipelines.settings import ProviderCredentials

from .recorder import CallIdentity


class AgentDirectory:
    """Stored agents, cached for `ttl` seconds per process. A dispatch that names a newer
    `agent_version` than the cached one reloads, so an API change applies to the next call."""

    def __init__(
        self,
        database_url: str,
        ttl: float = 5.0,
        vault: Callable[[], ProviderKeyVault] | None = None,
    ) -> None:
        self.database_url = database_url
        self.ttl = ttl
        self.vault = vault
        self._cache: dict[str, tuple[float, StoredAgent]] = {}
        self._lock = threading.Lock()

    async def load(self, agent_id: str, version: str | None = None) -> StoredAgent:
        with self._lock:
            hit = self._cache.get(agent_id)
        if hit is not None:
            expires_at, agent = hit
            if time.monotonic() < expires_at and version in (None, agent.version):
                return agent
        agent = await load_agent(self.database_url, agent_id, self.vault)
        with self._lock:
            self._cache[agent_id] = (time.monotonic() + self.ttl, agent)
        return agent


@dataclass(frozen=True)
class ResolvedAgent:
    config: AgentConfig
    credentials: ProviderCredentials = ProviderCredentials()
    """Provider keys of a stored agent; inline configs use the deployment's only."""
    call: CallIdentity | None = None
    """The conversation a stored agent's call records into (none for inline configs)."""
    agent_id: uuid.UUID | None = None
    """The stored agent's id (none for inline configs): its knowledge is searched."""
    mcp: tuple[McpAccess, ...] = ()
    """The MCP servers whose tools the agent may call."""
    context: dict[str, Any] = field(default_factory=dict)
    """The call's `initial_context` (`POST /conversations`): told to the model."""


def with_call_settings(config: AgentConfig, payload: dict[str, Any]) -> AgentConfig:
    """The agent's config with this call's `language` and `settings` (`POST /conversations`):
    a speed multiplier, a pitch, no recording; a malformed value is ignored."""
    changes: dict[str, Any] = {}
    language = payload.get("language")
    if isinstance(language, str) and language and language != config.language:
        changes["language"] = language
    settings = payload.get("settings")
    settings = settings if isinstance(settings, dict) else {}
    speed = settings.get("voice_speed")
    if isinstance(speed, int | float) and 0.5 <= speed <= 2.0:
        changes["voice_speed"] = min(200.0, max(50.0, config.voice_speed * speed))
    if settings.get("voice_pitch") in ("low", "medium", "high"):
        changes["voice_pitch"] = settings["voice_pitch"]
    if settings.get("recording_enabled") is False:
        changes["privacy"] = config.privacy.model_copy(update={"delete_audio": True})
    return config.model_copy(update=changes) if changes else config


async def resolve_agent(metadata: str | None, directory: AgentDirectory) -> ResolvedAgent:
    """The agent a job runs; `PipelineSetupError` when the job must be refused."""
    try:
        payload = json.loads(metadata) if metadata and metadata.strip() else {}
    except json.JSONDecodeError as exc:
        raise PipelineSetupError(f"job metadata is not JSON: {exc.msg}") from exc
    if not isinstance(payload, dict) or "agent_id" not in payload:
        try:
            return ResolvedAgent(AgentConfig.from_metadata(metadata))
        except InvalidAgentConfigError as exc:
            raise PipelineSetupError(str(exc)) from exc
    agent_id, version = payload["agent_id"], payload.get("agent_version")
    if not isinstance(agent_id, str) or not (version is None or isinstance(version, str)):
        raise PipelineSetupError("agent_id and agent_version in job metadata must be strings")
    try:
        agent = await directory.load(agent_id, version)
    except AgentUnavailableError as exc:
        raise PipelineSetupError(str(exc)) from exc
    config = with_call_settings(agent.config, payload)
    call = None
    context = payload.get("initial_context")
    context = context if isinstance(context, dict) else {}
    conversation_id = payload.get("conversation_id")
    if isinstance(conversation_id, str) and 0 < len(conversation_id) <= 64:
        user_id = payload.get("user_id")
        call = CallIdentity.under(
            config.privacy.model_dump(),
            conversation_id=conversation_id,
            company_id=agent.company_id,
            agent_id=agent.agent_id,
            user_id=user_id if isinstance(user_id, str) else "",
            initial_context=context,
        )
    return ResolvedAgent(
        config,
        agent.credentials,
        call,
        agent.agent_id,
        agent.mcp,
        context,
    )
