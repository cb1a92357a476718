"""livekit-agents' `AgentServer`, writing the worker's logs as `LOG_FORMAT` asks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from livekit.agents import AgentServer

from shared import logs


class VoiceAgentServer(AgentServer):
    """An `AgentServer` whose log lines follow `log_format` from its first line, with the
    deployment's secrets masked. livekit-agents' CLI sets up logging (JSON under `start`,
    coloured under `dev`) just before it runs the server; None keeps that format."""

    def __init__(
        self,
        *,
        log_format: logs.LogFormat | None = None,
        log_secrets: Sequence[str] = (),
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self._log_format = log_format
        self._log_secrets = tuple(log_secrets)

    async def run(self, *, devmode: bool = False, unregistered: bool = False) -> None:
        logs.reformat(self._log_format, self._log_secrets)
        await super().run(devmode=devmode, unregistered=unregistered)
