"""The conversational agent a session runs, built from an `AgentConfig`."""

from __future__ import annotations

from livekit.agents import Agent

from pipelines.config import AgentConfig


class VoiceAgent(Agent):
    """Speaks the configured greeting, then answers with the configured prompt."""

    def __init__(self, config: AgentConfig) -> None:
        super().__init__(instructions=config.system_prompt)
        self.config = config

    async def on_enter(self) -> None:
        if self.config.first_message:
            self.session.say(self.config.first_message, add_to_chat_ctx=True)
