"""AgentServer entrypoint: one `AgentSession` per dispatched job.

Run `python -m agent_worker start` (production), `dev`, or `console` (local microphone and
speaker). The worker uses explicit dispatch: jobs arrive only for rooms that dispatched
`VOICE_AGENT_NAME`; the dispatch metadata names the stored agent to run (see `agents`). Each
job is a `Call` (`call.py`); this module holds what the worker process shares between them.
"""

from __future__ import annotations

import logging
import os
import threading

from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess

from control_plane.security import ProviderKeyVault
from livekit_patches import ffi_routing
from pipelines.factory import Engines

from .agents import AgentDirectory
from .call import Call
from .memory import freeze_startup_objects
from .server import VoiceAgentServer
from .settings import Settings

logger = logging.getLogger("agent_worker")

settings = Settings()
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
            freeze_startup_objects()
        return _engines


LOOP_MONITOR_ENV = "LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS"


def quiet_loop_monitor() -> None:
    """Turn off livekit-agents' event-loop monitor, unless `LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS`
    asks for it.

    Its watchdog thread samples a stalled loop's stack with `sys._current_frames()`, which
    holds the interpreter's thread-list lock while it allocates; a garbage collection there
    runs the monitor's own `gc.callbacks` hook, whose Python code can hand the GIL to another
    thread. If that thread is one of livekit's native threads finishing an event callback, it
    needs the thread-list lock to drop its thread state: each waits for the other, and the
    whole worker hangs with every call in it (seen under load, 2 of 3 runs at 8 calls). Its
    heartbeat also wakes every call's loop 50 times a second."""
    os.environ.setdefault(LOOP_MONITOR_ENV, "0")


def route_events(s: Settings) -> None:
    """Route livekit's audio events to their call."""
    if s.event_routing:
        ffi_routing.install()


def prewarm(proc: JobProcess) -> None:
    """Give each job the loaded models (loading them if this process has none yet)."""
    route_events(settings)
    proc.userdata["engines"] = shared_engines()


async def entrypoint(ctx: JobContext) -> None:
    """Run one call: see `Call`."""
    await Call(ctx, settings, agent_directory, ctx.proc.userdata["engines"]).run()


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
    route_events(s)
    quiet_loop_monitor()
    if executor is JobExecutorType.THREAD:
        shared_engines()  # before registering: the first call must not wait for loading
    server = VoiceAgentServer(
        log_format=s.log_format,
        log_secrets=s.log_secrets(),
        job_executor_type=executor,
        ws_url=s.livekit_url,
        api_key=s.livekit_api_key,
        api_secret=s.livekit_api_secret.get_secret_value(),
        setup_fnc=prewarm,
        num_idle_processes=s.worker_idle_processes,
        drain_timeout=s.worker_drain_seconds,
        load_fnc=lambda server: _load(server, s.worker_max_calls),
        load_threshold=0.999,
        initialize_process_timeout=120.0,
        port=s.worker_http_port,
        host=s.worker_http_host,
        prometheus_port=s.worker_metrics_port or None,
    )
    server.rtc_session(entrypoint, agent_name=s.agent_name)
    return server
