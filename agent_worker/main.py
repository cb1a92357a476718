"""AgentServer entrypoint: one `AgentSession` per dispatched job.

Run `python -m agent_worker start` (production), `dev`, or `console` (local microphone and
speaker). The worker uses explicit dispatch: jobs arrive only for rooms that dispatched
`VOICE_AGENT_NAME`; the dispatch metadata names the stored agent to run (see `agents`).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time

from livekit import rtc
from livekit.agents import (
    AgentServer,
    AgentSession,
    APIConnectOptions,
    CloseEvent,
    CloseReason,
    JobContext,
    JobExecutorType,
    JobProcess,
    room_io,
)
from livekit.agents.voice import ConversationItemAddedEvent
from livekit.agents.voice.agent_session import SessionConnectOptions

from agent.contract import AgentConfig
from control_plane.security import ProviderKeyVault
from livekit_patches import ffi_routing
from livekit_patches.playout import stop_on_pause
from livekit_patches.speaking_rate import vectorize_speaking_rate
from pipelines.cloud import ProviderCredentials, attempt_options, is_fallback, llm_provider
from pipelines.errors import PipelineSetupError
from pipelines.factory import Engines, build_pipeline, interruption_min_duration
from shared.telemetry import turn_stages

from .agent import VoiceAgent
from .agents import AgentDirectory, resolve_agent
from .recorder import ConversationRecorder
from .rules import CallRules, line
from .settings import Settings
from .telemetry import LoopLag, MetricsPublisher, watch_providers

logger = logging.getLogger("agent_worker")

settings = Settings()
CALL_STARTED = "call job started"
CALL_FINISHED = "call job finished"
"""Logged with the room at the start and the very end of each call's job."""
agent_directory = AgentDirectory(
    settings.resolved_database_url(),
    ttl=settings.agent_cache_seconds,
    vault=lambda: ProviderKeyVault.from_settings(settings),
)


_engines: Engines | None = None
_engines_lock = threading.Lock()


def shared_engines() -> Engines:
    """The process's engines, loaded on first use; calls running as threads share them."""
    global _engines
    with _engines_lock:
        if _engines is None:
            _engines = Engines(settings.engine_settings())
            if settings.worker_profile != "stock":
                freeze_startup_objects()
        return _engines


def freeze_startup_objects() -> None:
    """Move what the process holds once its models are loaded (~280,000 objects: modules,
    engines) to the collector's permanent generation. A full collection then looks only at
    what was made since: ~25 ms at a call's end instead of ~200 ms (every thread of the
    worker waits for it), so each ended call's garbage can be collected at once
    (`collect_call_garbage`), and Python's own full collections stop costing that much."""
    gc.collect()
    gc.freeze()


async def collect_call_garbage() -> None:
    """Free the garbage of calls that have ended. A call's objects end in reference cycles
    (the framework's session, streams and provider clients) that hold native memory: audio
    buffers, handles into livekit's SDK. Left to Python's occasional full collection, they
    piled up for minutes and the memory came back fragmented."""
    started = time.perf_counter()
    freed = gc.collect()
    logger.debug("collected %d objects in %.1f ms", freed, (time.perf_counter() - started) * 1000)


LOOP_MONITOR_ENV = "LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS"


def quiet_loop_monitor(s: Settings) -> None:
    """Turn off livekit-agents' event-loop monitor (not for the stock peer profile), unless
    `LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS` asks for it.

    Its watchdog thread samples a stalled loop's stack with `sys._current_frames()`, which
    holds the interpreter's thread-list lock while it allocates; a garbage collection there
    runs the monitor's own `gc.callbacks` hook, whose Python code can hand the GIL to another
    thread. If that thread is one of livekit's native threads finishing an event callback, it
    needs the thread-list lock to drop its thread state: each waits for the other, and the
    whole worker hangs with every call in it (seen under load, 2 of 3 runs at 8 calls). Its
    heartbeat also wakes every call's loop 50 times a second."""
    if s.worker_profile != "stock":
        os.environ.setdefault(LOOP_MONITOR_ENV, "0")


def route_events(s: Settings) -> None:
    """Route livekit's audio events to their call (not for the stock peer profile)."""
    if s.worker_profile != "stock" and s.event_routing:
        ffi_routing.install()


def prewarm(proc: JobProcess) -> None:
    """Give each job the loaded models (loading them if this process has none yet)."""
    route_events(settings)
    proc.userdata["engines"] = shared_engines()


def session_for(
    config: AgentConfig, engines: Engines, credentials: ProviderCredentials | None = None
) -> AgentSession:
    """An `AgentSession` with the pipeline and turn-taking rules of `config`."""
    parts = build_pipeline(config, engines, credentials)
    if engines.settings.profile == "stock":
        # The framework's own defaults, as its quickstart runs them: the benchmark peer.
        return AgentSession(vad=parts.vad, stt=parts.stt, llm=parts.llm, tts=parts.tts)
    td = config.turn_detection
    cloud = engines.settings.cloud

    def attempt(part: object, voice: bool = False) -> APIConnectOptions:
        return attempt_options(cloud, cloud_first=is_fallback(part), voice=voice)

    return AgentSession(
        vad=parts.vad,
        stt=parts.stt,
        llm=parts.llm,
        tts=parts.tts,
        turn_handling={
            "turn_detection": "vad",
            "endpointing": {
                "min_delay": td.min_endpointing_delay,
                "max_delay": td.max_endpointing_delay,
            },
            "interruption": {
                "enabled": td.allow_interruptions,
                "mode": "vad",
                "min_duration": interruption_min_duration(config),
                # A short sound that stopped the agent but brought no words: carry on.
                "resume_false_interruption": True,
                "false_interruption_timeout": td.false_interruption_timeout,
            },
            # Start the LLM on the transcript while endpointing is still deciding.
            "preemptive_generation": {"enabled": True},
        },
        user_away_timeout=None,
        conn_options=SessionConnectOptions(
            stt_conn_options=attempt(parts.stt),
            llm_conn_options=attempt(parts.llm),
            tts_conn_options=attempt(parts.tts, voice=True),
        ),
    )


async def entrypoint(ctx: JobContext) -> None:
    """Run one call: load the agent config, build its pipeline, hold the conversation."""
    try:
        agent = await resolve_agent(ctx.job.metadata, agent_directory)
        config = agent.config
        session = session_for(config, ctx.proc.userdata["engines"], agent.credentials)
    except PipelineSetupError as exc:
        logger.error("refusing job %s: %s", ctx.job.id, exc)
        ctx.shutdown(reason=f"refused: {exc}")
        return

    await ctx.connect()
    logger.info(CALL_STARTED, extra={"room": ctx.room.name})

    async def finished(reason: str) -> None:
        logger.info(CALL_FINISHED, extra={"room": ctx.room.name, "reason": reason})

    ctx.add_shutdown_callback(finished)
    if settings.worker_profile != "stock":
        ctx.add_shutdown_callback(collect_call_garbage)
    publisher = MetricsPublisher(ctx.room)
    session.on("metrics_collected", publisher.on_metrics)
    session.on("conversation_item_added", publisher.on_item)
    session.on("user_state_changed", publisher.on_state)
    session.on("agent_state_changed", publisher.on_state)
    lag = LoopLag(publisher.publish)  # how late this call's loop runs, once a second
    lag.start()
    ctx.add_shutdown_callback(lag.aclose)
    ctx.add_shutdown_callback(publisher.aclose)

    ending = {"status": "success", "reason": "agent_ended"}
    decided: list[str] = []  # the agent's own reason, once it chose to end the call
    recorder = None
    if agent.call is not None:
        recorder = ConversationRecorder(
            settings.resolved_database_url(),
            agent.call,
            ctx.room.name,
            store=settings.recording_store(),
            recording_format=settings.recording_format,
        )
        if not await recorder.start():
            logger.info("call was ended before the agent joined", extra={"room": ctx.room.name})
            await leave_and_close_room(ctx)
            ctx.shutdown(reason="conversation already ended")
            return
        session.on("conversation_item_added", lambda ev: record_item(recorder, ev))
        # Runs after the session closed, so the recording is complete; before the job's
        # temporary directory is removed.
        ctx.add_shutdown_callback(
            lambda: recorder.finish(**ending, recording=ctx.session_directory / RECORDING_FILE)
        )
    keep_audio = agent.call is not None and agent.call.keep_audio
    watch_providers(session, publisher, ctx.room.name, recorder.event if recorder else None)

    # The call ends when the caller leaves: close the session, then the job.
    def on_close(ev: CloseEvent) -> None:
        logger.info("call ended: %s", ev.reason.value, extra={"room": ctx.room.name})
        if not decided:
            ending.update(END_REASONS.get(ev.reason, ending))
        ctx.shutdown(reason=f"session closed: {ev.reason.value}")

    async def end_call(reason: str) -> None:
        """Say the farewell, then hang up: the room closes for everyone."""
        decided.append(reason)
        ending.update(status="success", reason=reason)
        logger.info("agent ends the call: %s", reason, extra={"room": ctx.room.name})
        try:
            session.interrupt(force=True)
            farewell = session.say(line(config, "farewell"), allow_interruptions=False)
            await farewell.wait_for_playout()
            await leave_and_close_room(ctx)
        except Exception as exc:  # the caller may be gone already; the call ends regardless
            logger.info("farewell cut short: %s", exc, extra={"room": ctx.room.name})
        ctx.shutdown(reason=f"agent ended the call: {reason}")

    # `POST /conversations/{id}/end` removes the caller (rather than deleting the room under
    # the agent, see `leave_and_close_room`); the framework closes the session only for the
    # caller leaving or the room being deleted, so a removal ends the call here.
    def on_participant_disconnected(participant: rtc.RemoteParticipant) -> None:
        if (
            participant.disconnect_reason == rtc.DisconnectReason.PARTICIPANT_REMOVED
            and participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ):
            logger.info("caller removed from the room", extra={"room": ctx.room.name})
            ending.update(END_REASONS[CloseReason.PARTICIPANT_DISCONNECTED])
            session.shutdown(drain=False)

    ctx.room.on("participant_disconnected", on_participant_disconnected)
    session.on("close", on_close)
    rules = CallRules(session, config, end_call)
    ctx.add_shutdown_callback(rules.aclose)
    await session.start(
        # Warming re-reads the conversation on the embedded model; on a paid API it would
        # bill a request per turn, and prefix caching there needs no help.
        agent=VoiceAgent(
            config,
            warm_llm=settings.worker_profile == "tuned"
            and llm_provider(config) == "local"
            and not config.llm_base_url,
        ),
        room=ctx.room,
        room_options=room_options(settings.worker_profile, settings.input_frame_ms),
        # No remote control of the session over the room: callers only talk and listen.
        session_host=False,
        # The framework's recorder writes the caller (left) and the agent as heard (right) to
        # the job's directory; nothing is sent to LiveKit Cloud (no traces, logs, transcript).
        record=RECORD_AUDIO if keep_audio else False,
    )
    if settings.worker_profile != "stock":  # the stock peer keeps the framework's output
        stop_on_pause(session.output.audio)
        vectorize_speaking_rate(session.output.audio)
    rules.start()


async def leave_and_close_room(ctx: JobContext) -> None:
    """Hang up for everyone: leave, then delete the room. In that order because a room
    deleted while the agent is in it ends server-side, and livekit's SDK then keeps the
    agent's published track and its capture thread for the life of the worker
    (livekit/rust-sdks#1443); a room the agent left itself lets them go."""
    room_name = ctx.room.name
    await ctx.room.disconnect()
    await ctx.delete_room(room_name)


def room_options(profile: str, frame_ms: int = 20) -> room_io.RoomOptions:
    """How the session hears the caller. The framework hands its VADs 50 ms frames at 24 kHz;
    ours get `frame_ms` (20 ms) frames at 16 kHz, the rate the VADs and Whisper work at: the
    caller's speech is seen up to 30 ms sooner (a barge-in stops the agent sooner), and no call
    resamples its input in Python (the SDK does it while decoding)."""
    if profile == "stock":
        return room_io.RoomOptions(close_on_disconnect=True)
    return room_io.RoomOptions(
        close_on_disconnect=True,
        audio_input=room_io.AudioInputOptions(sample_rate=16000, frame_size_ms=frame_ms),
    )


RECORDING_FILE = "audio.ogg"
"""Where livekit-agents' `RecorderIO` writes a session's audio in the job's directory."""
RECORD_AUDIO = {"audio": True, "traces": False, "logs": False, "transcript": False}

END_REASONS = {
    CloseReason.PARTICIPANT_DISCONNECTED: {"status": "success", "reason": "caller_hung_up"},
    CloseReason.ERROR: {"status": "failed", "reason": "error"},
}
"""How a session's end reads in the conversation record (others: the agent ended it)."""


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


def _load(server: AgentServer, max_calls: int) -> float:
    # livekit-agents' default load is the machine's CPU use, which on a small machine also
    # counts the LLM server and anything else running: the worker then refuses calls it could
    # take. Active calls against a configured capacity is predictable and measurable.
    return min(1.0, len(server.active_jobs) / max(1, max_calls))


def create_server(s: Settings = settings) -> AgentServer:
    """The AgentServer with our prewarm and entrypoint registered under `s.agent_name`."""
    # Calls run as threads of the worker process by default: the models are loaded once and
    # shared, and no call waits for (or competes with) a new process loading them. With one
    # process per call, each call start made the pool load Whisper and Piper again (~6 s of
    # CPU on 2 cores), which slowed the first turns of that call (benchmarks/RESULTS.md).
    executor = JobExecutorType.THREAD if s.worker_executor == "thread" else JobExecutorType.PROCESS
    if s.worker_profile == "stock":
        executor = JobExecutorType.PROCESS  # livekit-agents' default on Linux
    route_events(s)
    quiet_loop_monitor(s)
    if executor is JobExecutorType.THREAD:
        shared_engines()  # before registering: the first call must not wait for loading
    server = AgentServer(
        job_executor_type=executor,
        ws_url=s.livekit_url,
        api_key=s.livekit_api_key,
        api_secret=s.livekit_api_secret.get_secret_value(),
        setup_fnc=prewarm,
        num_idle_processes=s.worker_idle_processes,
        load_fnc=lambda server: _load(server, s.worker_max_calls),
        load_threshold=0.999,
        initialize_process_timeout=120.0,
        port=s.worker_http_port,
        host="127.0.0.1",
    )
    server.rtc_session(entrypoint, agent_name=s.agent_name)
    return server
