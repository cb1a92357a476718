"""The conversational agent a session runs, built from an `AgentConfig`."""

from __future__ import annotations

import asyncio
import logging

from livekit.agents import Agent, llm
from livekit.agents.voice import AgentStateChangedEvent, SpeechHandle

from pipelines.config import AgentConfig

logger = logging.getLogger("agent_worker.agent")


class VoiceAgent(Agent):
    """Speaks the configured greeting, then answers with the configured prompt.

    With `warm_llm`, the LLM reads the conversation so far whenever the agent stops talking, so
    the next answer only pays for the caller's new words. On 2 cores the embedded model reads
    ~200 tokens/s: re-reading the system prompt and the last answer cost 0.3-0.7 s per turn.
    Servers with a prefix cache (llama.cpp, OpenAI) reuse that work for the real request.
    """

    def __init__(self, config: AgentConfig, *, warm_llm: bool = True) -> None:
        super().__init__(instructions=config.system_prompt)
        self.config = config
        self._warm_llm_enabled = warm_llm
        self._warmup: asyncio.Task[None] | None = None

    async def on_enter(self) -> None:
        greeting = None
        if self.config.first_message:
            greeting = self.session.say(self.config.first_message, add_to_chat_ctx=True)
        if not self._warm_llm_enabled:
            return
        # The first warm-up waits for the greeting to finish playing: on a small machine it
        # would otherwise slow the greeting's synthesis.
        self._start_warmup(greeting)
        self.session.on("agent_state_changed", self._on_agent_state)

    async def on_exit(self) -> None:
        self.session.off("agent_state_changed", self._on_agent_state)
        if self._warmup and not self._warmup.done():
            self._warmup.cancel()

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        if ev.old_state == "speaking" and ev.new_state == "listening":
            self._start_warmup(None)

    def _start_warmup(self, after: SpeechHandle | None) -> None:
        if self._warmup and not self._warmup.done():
            return
        self._warmup = asyncio.create_task(self._warm_llm(after), name="llm-warmup")

    async def _warm_llm(self, after: SpeechHandle | None) -> None:
        if after is not None:
            await after.wait_for_playout()
        model = self.session.llm
        if not isinstance(model, llm.LLM):
            return
        ctx = self.chat_ctx.copy()
        if not any(getattr(item, "role", None) == "system" for item in ctx.items):
            ctx.add_message(role="system", content=self.instructions)
        try:
            async with model.chat(chat_ctx=ctx) as stream:
                async for _chunk in stream:
                    break
        except Exception as exc:  # warm-up is an optimisation; the call goes on without it
            logger.debug("LLM warm-up failed: %s", exc)
