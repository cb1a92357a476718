"""The conversational agent a session runs, built from an `AgentConfig`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from typing import Any

from livekit import rtc
from livekit.agents import Agent, FlushSentinel, ModelSettings, llm, stt
from livekit.agents.voice import AgentStateChangedEvent, SpeechHandle

from agent.contract import AgentConfig
from agent.knowledge import Passage, Retriever
from agent.prompt import instructions, last_user_text, with_knowledge
from livekit_patches.resume import resume_now
from pipelines.backchannel import is_backchannel
from pipelines.transcript_gate import caller_silence_of, gate_of, mark_gate

logger = logging.getLogger("agent_worker.agent")

RESUME_AFTER_SILENCE = 0.1
"""Seconds of caller silence after which a reply paused by a backchannel resumes as soon as
the backchannel is transcribed (the caller said "yeah" and stopped, not "yeah, but...")."""


class VoiceAgent(Agent):
    """Speaks the configured greeting, then answers with the configured prompt.

    With `warm_llm`, the LLM reads the conversation so far whenever the agent stops talking, so
    the next answer only pays for the caller's new words. On 2 cores the embedded model reads
    ~200 tokens/s: re-reading the system prompt and the last answer cost 0.3-0.7 s per turn.
    Servers with a prefix cache (llama.cpp, OpenAI) reuse that work for the real request.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        warm_llm: bool = True,
        knowledge: Retriever | None = None,
        tools: Sequence[llm.Tool | llm.Toolset] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(instructions=instructions(config, context), tools=list(tools or []))
        self.config = config
        self.knowledge = knowledge
        self._retrievals: dict[str, asyncio.Task[list[Passage] | None]] = {}
        self._warm_llm_enabled = warm_llm
        self._warmup: asyncio.Task[None] | None = None
        self._protection: asyncio.Task[None] | None = None

    async def on_enter(self) -> None:
        greeting = None
        if self.config.first_message:
            td = self.config.turn_detection
            protect = td.allow_interruptions and td.greeting_protection > 0
            greeting = self.session.say(
                self.config.first_message, allow_interruptions=not protect, add_to_chat_ctx=True
            )
            if protect:
                self._protection = asyncio.create_task(
                    self._protect_greeting(greeting, td.greeting_protection),
                    name="greeting-protection",
                )
        if not self._warm_llm_enabled:
            return
        # The first warm-up waits for the greeting to finish playing: on a small machine it
        # would otherwise slow the greeting's synthesis.
        self._start_warmup(greeting)
        self.session.on("agent_state_changed", self._on_agent_state)

    async def stt_node(
        self, audio: AsyncIterable[rtc.AudioFrame], model_settings: ModelSettings
    ) -> AsyncIterator[stt.SpeechEvent]:
        """Transcripts, minus backchannels said while the agent speaks: "mm-hmm" or a cough
        over the agent leaves its reply going (it resumes after the pause the sound caused).

        Each segment's start and transcript also mark the session's transcript gate, which
        holds the end of the turn while a segment is still being recognised; the gate also
        tells the recogniser when the agent is speaking (a short sound then is read as a
        likely backchannel)."""
        gate = gate_of(self.session.vad)
        if gate is not None:
            gate.agent_speaking = self._speaking
        async for ev in Agent.default.stt_node(self, audio, model_settings):
            if gate is not None:
                mark_gate(gate, ev)
            if (
                ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT
                and ev.alternatives
                and self._speaking()
                and is_backchannel(ev.alternatives[0].text, self.config.language)
            ):
                self._ignore_backchannel(ev.alternatives[0].text)
                continue
            yield ev

    async def llm_node(
        self, chat_ctx: llm.ChatContext, tools: list[llm.Tool], model_settings: ModelSettings
    ) -> AsyncIterator[llm.ChatChunk | str | FlushSentinel]:
        """The LLM's answer, with the passages of the agent's knowledge that the caller's
        last words retrieve put just before them (so the conversation before them stays a
        prefix the LLM server has cached)."""
        if self.knowledge is not None:
            chat_ctx = await self._with_knowledge(chat_ctx)
        async for chunk in Agent.default.llm_node(self, chat_ctx, tools, model_settings):
            yield chunk

    async def _with_knowledge(self, chat_ctx: llm.ChatContext) -> llm.ChatContext:
        """`chat_ctx` with the knowledge for its last user message. The search starts when
        the LLM is first asked for that message, which with preemptive generation is on the
        transcript, while the turn's end is still being decided; a second request for the
        same words (the preemptive one discarded) reuses it. Without knowledge, or when the
        search fails, the context is unchanged."""
        assert self.knowledge is not None
        found = last_user_text(chat_ctx)
        if found is None:
            return chat_ctx
        last, question = found
        task = self._retrievals.get(question)
        if task is None:
            task = asyncio.create_task(self._retrieve(question), name="knowledge-search")
            self._retrievals = {question: task}  # only the latest words are asked for again
        asked = time.perf_counter()
        try:
            passages = await asyncio.shield(task)
        except Exception as exc:  # an answer without knowledge beats no answer
            logger.warning("knowledge search failed: %s", exc)
            return chat_ctx
        logger.info(
            "knowledge: the LLM request waited %.1f ms for the search",
            (time.perf_counter() - asked) * 1000,
        )
        if passages is None:
            return chat_ctx
        return with_knowledge(chat_ctx, last, passages)

    async def _retrieve(self, question: str) -> list[Passage] | None:
        """The passages for `question`; None when the agent has no knowledge at all."""
        assert self.knowledge is not None
        started = time.perf_counter()
        passages = await self.knowledge.lookup(question)
        if passages is None:
            return None
        logger.info(
            "knowledge: %d passage(s) for the caller's words%s, searched in %.1f ms",
            len(passages),
            f", best {passages[0].score:.2f} from {passages[0].source!r}" if passages else "",
            (time.perf_counter() - started) * 1000,
        )
        return passages

    def _ignore_backchannel(self, text: str) -> None:
        """A reply the backchannel paused comes back now, unless the caller is still
        speaking (then livekit's own rule decides, once the speech ends)."""
        silence = caller_silence_of(self.session.vad)
        resumed = silence >= RESUME_AFTER_SILENCE and resume_now(self.session)
        logger.info(
            "ignoring a backchannel over the agent: %r (caller silent %.2f s%s)",
            text,
            silence,
            "; the paused reply resumes" if resumed else "",
        )

    def _speaking(self) -> bool:
        speech = self.session.current_speech
        return speech is not None and not speech.done()

    async def _protect_greeting(self, greeting: SpeechHandle, seconds: float) -> None:
        """Nothing interrupts the first `seconds` of the greeting's audio (a line's pickup
        noise would otherwise cut it); after that the caller can."""
        speaking = asyncio.get_running_loop().create_future()

        def on_state(ev: AgentStateChangedEvent) -> None:
            if ev.new_state == "speaking" and not speaking.done():
                speaking.set_result(None)

        self.session.on("agent_state_changed", on_state)
        played = asyncio.ensure_future(greeting.wait_for_playout())
        try:
            await asyncio.wait([speaking, played], return_when=asyncio.FIRST_COMPLETED)
            if greeting.done():
                return
            await asyncio.sleep(seconds)  # the protection itself is a span of playout time
            if not greeting.done():
                greeting.allow_interruptions = True
        finally:
            played.cancel()
            self.session.off("agent_state_changed", on_state)

    async def on_exit(self) -> None:
        if self._protection and not self._protection.done():
            self._protection.cancel()
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
            instructions = self.instructions
            if not isinstance(instructions, str):
                instructions = instructions.render(modality="audio")
            ctx.add_message(role="system", content=instructions)
        try:
            async with model.chat(chat_ctx=ctx) as stream:
                async for _chunk in stream:
                    break
        except Exception as exc:  # warm-up is an optimisation; the call goes on without it
            logger.debug("LLM warm-up failed: %s", exc)
