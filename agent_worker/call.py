"""One call, top to bottom: load its agent, assemble the session, open its record, greet and
run, then close and record how it ended."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import AgentSession, CloseEvent, CloseReason, JobContext, RecordingOptions
from livekit.agents.voice import ConversationItemAddedEvent, FunctionToolsExecutedEvent
from sqlalchemy.pool import NullPool

from agent.contract import AgentConfig
from agent.knowledge import Retriever
from agent.mcp import call_toolsets
from agent.tools import ToolHooks, build_tools, filler_line, tool_use
from control_plane.store.db import create_engine, session_factory
from control_plane.store.repositories import StorePassages
from livekit_patches.playout import duck_on_pause
from livekit_patches.speaking_rate import vectorize_speaking_rate
from pipelines.cloud import llm_provider
from pipelines.embeddings import build_embedder
from pipelines.errors import PipelineSetupError
from pipelines.factory import Engines
from pipelines.transcript_gate import caller_silence_of
from shared.telemetry import turn_stages

from . import metrics
from .agent import VoiceAgent
from .agents import AgentDirectory, ResolvedAgent, resolve_agent
from .memory import collect_call_garbage
from .phone import PhoneLine, is_phone_line, is_phone_number, line_lost
from .recorder import ConversationRecorder
from .rules import CallRules, line
from .session import room_options, session_for
from .settings import Settings
from .telemetry import LoopLag, MetricsPublisher, watch_providers

logger = logging.getLogger("agent_worker")

CALL_STARTED = "call job started"
CALL_FINISHED = "call job finished"
"""Logged with the room at the start and the very end of each call's job."""

RECORDING_FILE = "audio.ogg"
"""Where livekit-agents' `RecorderIO` writes a session's audio in the job's directory."""
RECORD_AUDIO: RecordingOptions = {
    "audio": True,
    "traces": False,
    "logs": False,
    "transcript": False,
}

END_REASONS = {
    CloseReason.PARTICIPANT_DISCONNECTED: ("success", "caller_hung_up"),
    CloseReason.ERROR: ("failed", "error"),
}
"""How a session's end reads in the conversation record (others: the agent ended it)."""


@dataclass
class Ending:
    """How the call ends, as its record will say: the agent's own decision stands over the
    session's close reason."""

    status: str = "success"
    reason: str = "agent_ended"
    decided: bool = False

    def agent_decided(self, reason: str) -> None:
        self.status, self.reason, self.decided = "success", reason, True

    def session_closed(self, reason: CloseReason) -> None:
        if not self.decided and reason in END_REASONS:
            self.status, self.reason = END_REASONS[reason]

    def caller_removed(self) -> None:
        self.status, self.reason = END_REASONS[CloseReason.PARTICIPANT_DISCONNECTED]

    def line_lost(self) -> None:
        """The caller's phone line dropped (not a hang-up)."""
        self.status, self.reason, self.decided = "failed", "connection_lost", True


class Call:
    """The job of one call in a room. `run` reads as the call goes."""

    def __init__(
        self, ctx: JobContext, settings: Settings, directory: AgentDirectory, engines: Engines
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.directory = directory
        self.engines = engines
        self.room = ctx.job.room.name
        self.ending = Ending()
        self.recorder: ConversationRecorder | None = None
        self.config: AgentConfig | None = None
        self.end_call: Callable[[str], Awaitable[None]] | None = None
        """Say the farewell and hang up (set once the call's endings are followed)."""

    async def run(self) -> None:
        assembled = await self.load_and_assemble()
        if assembled is None:
            return
        agent, session = assembled
        await self.ctx.connect()
        logger.info(CALL_STARTED, extra={"room": self.room})
        metrics.call_started()
        self.ctx.add_shutdown_callback(self._finished)
        self.ctx.add_shutdown_callback(collect_call_garbage)
        publisher = self.publish_telemetry(session)
        if not await self.open_record(agent, session):
            return
        watch_providers(
            session, publisher, self.room, self.recorder.event if self.recorder else None
        )
        rules = self.follow_endings(agent, session)
        await self.start(agent, session)
        rules.start()

    async def load_and_assemble(self) -> tuple[ResolvedAgent, AgentSession] | None:
        """The dispatched agent and its session; None (the job refused) when either fails."""
        try:
            agent = await resolve_agent(self.ctx.job.metadata, self.directory)
            return agent, session_for(agent.config, self.engines, agent.credentials)
        except PipelineSetupError as exc:
            logger.error("refusing job %s: %s", self.ctx.job.id, exc)
            self.ctx.shutdown(reason=f"refused: {exc}")
            return None

    def publish_telemetry(self, session: AgentSession) -> MetricsPublisher:
        """The call's metrics, states and loop lag on the room's metrics topic."""
        publisher = MetricsPublisher(self.ctx.room)
        session.on("metrics_collected", publisher.on_metrics)
        session.on("conversation_item_added", publisher.on_item)
        session.on("user_state_changed", publisher.on_state)
        session.on("agent_state_changed", publisher.on_state)
        lag = LoopLag(publisher.publish)  # how late this call's loop runs, once a second
        lag.start()
        self.ctx.add_shutdown_callback(lag.aclose)
        self.ctx.add_shutdown_callback(publisher.aclose)
        return publisher

    async def open_record(self, agent: ResolvedAgent, session: AgentSession) -> bool:
        """Start the conversation's record (for a call placed through the API); False when
        the call was ended before the agent joined, and must not go on."""
        if agent.call is None:
            return True
        recorder = ConversationRecorder(
            self.settings.resolved_database_url(),
            agent.call,
            self.room,
            store=self.settings.recording_store(),
            recording_format=self.settings.recording_format,
        )
        if not await recorder.start():
            logger.info("call was ended before the agent joined", extra={"room": self.room})
            await leave_and_close_room(self.ctx)
            self.ctx.shutdown(reason="conversation already ended")
            return False
        self.recorder = recorder
        session.on("conversation_item_added", lambda ev: record_item(recorder, ev))
        # Runs after the session closed, so the recording is complete; before the job's
        # temporary directory is removed.
        self.ctx.add_shutdown_callback(
            lambda: recorder.finish(
                status=self.ending.status,
                reason=self.ending.reason,
                recording=self.ctx.session_directory / RECORDING_FILE,
            )
        )
        return True

    def follow_endings(self, agent: ResolvedAgent, session: AgentSession) -> CallRules:
        """How the call can end: the caller leaves or is removed, the session closes, or the
        agent's rules (silence, duration, its own decision) end it with a farewell."""

        def on_close(ev: CloseEvent) -> None:
            logger.info("call ended: %s", ev.reason.value, extra={"room": self.room})
            self.ending.session_closed(ev.reason)
            self.ctx.shutdown(reason=f"session closed: {ev.reason.value}")

        async def end_call(reason: str) -> None:
            """Say the farewell, then hang up: the room closes for everyone."""
            self.ending.agent_decided(reason)
            logger.info("agent ends the call: %s", reason, extra={"room": self.room})
            try:
                session.interrupt(force=True)
                farewell = session.say(line(agent.config, "farewell"), allow_interruptions=False)
                await farewell.wait_for_playout()
                await leave_and_close_room(self.ctx)
            except Exception as exc:  # the caller may be gone already; the call ends anyway
                logger.info("farewell cut short: %s", exc, extra={"room": self.room})
            self.ctx.shutdown(reason=f"agent ended the call: {reason}")

        # `POST /conversations/{id}/end` removes the caller (rather than deleting the room
        # under the agent, see `leave_and_close_room`); the framework closes the session only
        # for the caller leaving or the room being deleted, so a removal ends the call here.
        def on_participant_disconnected(participant: rtc.RemoteParticipant) -> None:
            if is_phone_line(participant) and line_lost(participant):
                logger.info("the caller's phone line was lost", extra={"room": self.room})
                self.ending.line_lost()
                return  # the session closes for the caller leaving
            if (
                participant.disconnect_reason == rtc.DisconnectReason.PARTICIPANT_REMOVED
                and participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
            ):
                logger.info("caller removed from the room", extra={"room": self.room})
                self.ending.caller_removed()
                session.shutdown(drain=False)

        self.ctx.room.on("participant_disconnected", on_participant_disconnected)
        session.on("close", on_close)
        self.end_call = end_call
        rules = CallRules(session, agent.config, end_call)
        self.ctx.add_shutdown_callback(rules.aclose)
        return rules

    async def start(self, agent: ResolvedAgent, session: AgentSession) -> None:
        """Join the session to the room; the agent greets as it enters."""
        config = self.config = agent.config
        keep_audio = agent.call is not None and agent.call.keep_audio
        knowledge = self.knowledge_of(agent)
        tools = build_tools(
            config, self.tool_hooks(agent, session, knowledge), self.engines.settings.egress
        )
        session.on("function_tools_executed", self.record_tools)
        await session.start(
            # Warming re-reads the conversation on the embedded model; on a paid API it would
            # bill a request per turn, and prefix caching there needs no help.
            agent=VoiceAgent(
                config,
                warm_llm=self.engines.settings.reply.llm_warm_up
                and llm_provider(config) == "local"
                and not config.llm_base_url,
                knowledge=knowledge,
                tools=[*tools, *call_toolsets(list(agent.mcp), self.engines.settings.egress)],
                context=agent.context,
            ),
            room=self.ctx.room,
            room_options=room_options(self.settings.input_frame_ms),
            # No remote control of the session over the room: callers only talk and listen.
            session_host=False,
            # The framework's recorder writes the caller (left) and the agent as heard (right)
            # to the job's directory; nothing is sent to LiveKit Cloud (no traces, logs,
            # transcript).
            record=RECORD_AUDIO if keep_audio else False,
        )
        duck_on_pause(
            session.output.audio,
            window=config.turn_detection.duck_duration,
            caller_speaking=lambda: caller_silence_of(session.vad) == 0,
        )
        vectorize_speaking_rate(session.output.audio)
        line = PhoneLine(self.ctx.room, session)
        line.follow()
        self.ctx.add_shutdown_callback(line.aclose)

    def tool_hooks(
        self, agent: ResolvedAgent, session: AgentSession, knowledge: Retriever | None
    ) -> ToolHooks:
        """What the built-in tools do on a call."""

        async def end_call(reason: str) -> None:
            if self.end_call is not None:
                await self.end_call(reason)

        async def transfer(target: str | None, reason: str) -> None:
            """Hand the caller over: `agent.handoff` tells the company's systems (a phone
            line transfers the call itself), the caller hears it, and the agent leaves."""
            to = target or agent.config.main_agent_id
            logger.info("handing the call over to %s", to or "a person", extra={"room": self.room})
            if self.recorder is not None:
                self.recorder.event("agent.handoff", {"to": to, "reason": reason})
                if (
                    to is not None
                    and is_phone_number(to)
                    and any(is_phone_line(p) for p in self.ctx.room.remote_participants.values())
                ):
                    # The provider dials it once the agent has left (the stream's end).
                    await self.recorder.transfer(to)
            await end_call("transferred")

        def filler() -> None:
            session.say(filler_line(agent.config), add_to_chat_ctx=False)

        return ToolHooks(end_call=end_call, transfer=transfer, filler=filler, retriever=knowledge)

    def record_tools(self, ev: FunctionToolsExecutedEvent) -> None:
        """Each tool call on the conversation's record, and its webhook."""
        for call, output in ev.zipped():
            ok = not output.is_error
            logger.info(
                "tool %s %s", call.name, "succeeded" if ok else "failed", extra={"room": self.room}
            )
            metrics.tool_called(call.name, ok)
            if self.recorder is None:
                continue
            self.recorder.tool(
                tool_use(
                    name=call.name,
                    config=self.config,
                    ok=ok,
                    arguments=call.arguments,
                    result=output.output,
                    at=ev.created_at,
                    keep_content=self.recorder.call.keep_transcript,
                )
            )

    def knowledge_of(self, agent: ResolvedAgent) -> Retriever | None:
        """Search over a stored agent's knowledge base, read from the store as the call
        goes (an item added or deleted applies from the next turn)."""
        if agent.agent_id is None:
            return None
        engine = create_engine(self.settings.resolved_database_url(), poolclass=NullPool)
        self.ctx.add_shutdown_callback(engine.dispose)
        settings = self.engines.settings
        credentials = agent.credentials.or_else(settings.credentials)
        embedder = build_embedder(
            agent.config.knowledge,
            api_key=credentials.openai,
            egress=settings.egress,
            default_base_url=settings.cloud.openai_base_url,
        )
        return Retriever(
            agent.agent_id, StorePassages(session_factory(engine)), embedder, agent.config.knowledge
        )

    async def _finished(self, reason: str) -> None:
        logger.info(CALL_FINISHED, extra={"room": self.room, "reason": reason})
        metrics.call_ended(status=self.ending.status, reason=self.ending.reason)


async def leave_and_close_room(ctx: JobContext) -> None:
    """Hang up for everyone: leave, then delete the room. In that order because a room
    deleted while the agent is in it ends server-side, and livekit's SDK then keeps the
    agent's published track and its capture thread for the life of the worker
    (livekit/rust-sdks#1443); a room the agent left itself lets them go."""
    room_name = ctx.room.name
    await ctx.room.disconnect()
    await ctx.delete_room(room_name)


def record_item(recorder: ConversationRecorder, ev: ConversationItemAddedEvent) -> None:
    """Store each final message as it is said; the agent's text is what the caller heard."""
    item = ev.item
    if item.type != "message" or item.role not in ("user", "assistant"):
        return
    text = item.text_content or ""
    if not text.strip():
        return
    recorder.message(
        speaker="agent" if item.role == "assistant" else "user",
        text=text,
        interrupted=item.interrupted,
        created_at=item.created_at,
        metrics=turn_stages(dict(item.metrics or {})),
    )
