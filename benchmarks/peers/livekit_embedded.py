"""Stock livekit-agents on the embedded engines: the latency benchmark's peer.

The same models as our worker (Whisper base, the embedded SmolLM2 server, the Piper voice),
run as livekit-agents' quickstart runs its providers: Silero VAD loaded once per job process,
the framework's default turn handling (VAD endpointing, 0.5 s minimum delay, default
interruption rules), its default process pool, room input and sentence tokenizer, and
faster-whisper's own 30 s window for every utterance. The agent is the dispatched one
(`{"agent": {...}}` in the job's metadata, else the defaults): its prompt, greeting, language,
voice speed and reply length. Like our worker, it reports the framework's metrics on the
room's metrics topic (`shared.telemetry`), so the benchmark reads both sides' stages.

Only what cannot be stock here differs: the providers are local (no cloud is reachable), and a
job process gets 120 s to load its models on a busy small machine.

Run: `python benchmarks/peers/livekit_embedded.py start` with `LIVEKIT_URL`,
`LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET`, `VOICE_AGENT_NAME` (the dispatch name) and
`LLM_BASE_URL` (the embedded LLM server) set.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, JobProcess, cli
from livekit.agents.voice import ConversationItemAddedEvent, MetricsCollectedEvent
from livekit.plugins import openai, silero

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.contract import LOCAL_LLM, AgentConfig  # noqa: E402
from pipelines import (  # noqa: E402
    PiperTTS,
    PiperTTSOptions,
    PiperVoiceHandle,
    WhisperModelHandle,
    WhisperSTT,
    WhisperSTTOptions,
)
from shared import telemetry  # noqa: E402

LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8088/v1")

server = AgentServer(
    port=int(os.environ.get("WORKER_HTTP_PORT", "8081")),
    initialize_process_timeout=120.0,
)


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load()
    whisper = WhisperModelHandle(os.environ.get("WHISPER_MODEL"), short_window=False)
    piper = PiperVoiceHandle(os.environ.get("PIPER_VOICE"))
    whisper.warm_up()
    piper.warm_up()
    proc.userdata["whisper"], proc.userdata["piper"] = whisper, piper


server.setup_fnc = prewarm


@server.rtc_session(agent_name=os.environ.get("VOICE_AGENT_NAME", "voice-agent"))
async def entrypoint(ctx: JobContext) -> None:
    config = AgentConfig.from_metadata(ctx.job.metadata)
    session: AgentSession = AgentSession(
        vad=ctx.proc.userdata["vad"],
        stt=WhisperSTT(ctx.proc.userdata["whisper"], WhisperSTTOptions(language=config.language)),
        llm=openai.LLM(
            model=LOCAL_LLM,
            base_url=LLM_BASE_URL,
            api_key="local-no-key",
            temperature=config.temperature,
            extra_body={"max_tokens": config.max_completion_tokens},
        ),
        tts=PiperTTS(ctx.proc.userdata["piper"], PiperTTSOptions(voice_speed=config.voice_speed)),
    )
    report_metrics(ctx, session)
    await session.start(room=ctx.room, agent=Agent(instructions=config.system_prompt))
    if config.first_message:
        session.say(config.first_message)


def report_metrics(ctx: JobContext, session: AgentSession) -> None:
    """The framework's metrics and per-turn latencies, as events on the room's metrics topic."""
    sending: set[asyncio.Task[None]] = set()

    def send(event: telemetry.Event) -> None:
        if not ctx.room.isconnected() or not ctx.room.remote_participants:
            return
        task = asyncio.create_task(
            ctx.room.local_participant.publish_data(
                event.encode(), reliable=True, topic=telemetry.METRICS_TOPIC
            )
        )
        sending.add(task)
        task.add_done_callback(done)

    def done(task: asyncio.Task[None]) -> None:
        sending.discard(task)
        if not task.cancelled():
            task.exception()  # a lost metrics packet only costs the benchmark a figure

    def on_metrics(ev: MetricsCollectedEvent) -> None:
        event = telemetry.framework_metrics(ev.metrics)
        if event is not None:
            send(event)

    def on_item(ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if item.type == "message" and item.metrics:
            send(telemetry.TurnMetrics.of_message(item.role, item.interrupted, item.metrics))

    session.on("metrics_collected", on_metrics)
    session.on("conversation_item_added", on_item)


if __name__ == "__main__":
    cli.run_app(server)
