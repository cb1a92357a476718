"""The conversational agent a session runs, built from an `AgentConfig`."""

from __future__ import annotations

import asyncio
import logging

from livekit.agents import Agent, llm
from livekit.agents.voice import SpeechHandle

from pipelines.config import AgentConfig

logger = logging.getLogger("agent_worker.agent")


class VoiceAgent(Agent):
    """Speaks the configured greeting, then answers with the configured prompt."""

    def __init__(self, config: AgentConfig, *, warm_llm: bool = True) -> None:
        super().__init__(instructions=config.system_prompt)
        self.config = config
        self._warm_llm_enabled = warm_llm
        self._warmup: asyncio.Task[None] | None = None

    async def on_enter(self) -> None:
        greeting = None
        if self.config.first_message:
            greeting = self.session.say(self.config.first_message, add_to_chat_ctx=True)
        # Have the LLM read the conversation prefix (system prompt + greeting) before the caller
        # answers, so the first reply does not pay for it: servers with a prefix cache
        # (llama.cpp, OpenAI) then only process the caller's words. Done once the greeting has
        # played: on a small machine it would otherwise slow the greeting's synthesis.
        if self._warm_llm_enabled:
            self._warmup = asyncio.create_task(self._warm_llm(greeting), name="llm-warmup")

    async def on_exit(self) -> None:
        if self._warmup and not self._warmup.done():
            self._warmup.cancel()

    async def _warm_llm(self, greeting: SpeechHandle | None) -> None:
        if greeting is not None:
            await greeting.wait_for_playout()
        model = self.session.llm
        if not isinstance(model, llm.LLM):
            return
        ctx = llm.ChatContext()
        ctx.add_message(role="system", content=self.instructions)
        if self.config.first_message:
            ctx.add_message(role="assistant", content=self.config.first_message)
        try:
            async with model.chat(chat_ctx=ctx) as stream:
                async for _chunk in stream:
                    break
        except Exception as exc:  # warm-up is an optimisation; the call goes on without it
            logger.debug("LLM warm-up failed: %s", exc)
