"""The Pipecat peer: Pipecat voice bots in LiveKit rooms, one asyncio task per call.

Run with the peer's own venv (see README.md):

    .cache/peers/pipecat-venv/bin/python benchmarks/peers/pipecat/agent.py --port 9601 \\
        --livekit-url ws://127.0.0.1:7880 --api-key devkey --api-secret secret \\
        --openai-base-url http://127.0.0.1:9391/v1 --elevenlabs-base-url http://127.0.0.1:9392/v1 \\
        --provider-key sk-... --voice-id EXAVITQu4vr4xnSDxMaL

`POST /calls {"room": NAME}` mints an agent token for the room, starts a bot there and answers
202 at once; `GET /health` answers 200. Every bot is the pipeline Pipecat's examples build for a
LiveKit voice bot: LiveKit transport, OpenAI STT (transcriptions endpoint), the user context
aggregator with Silero VAD and Pipecat's default turn strategies (VAD start, smart-turn v3 stop,
interruptions on), OpenAI LLM, ElevenLabs TTS (websocket), the assistant aggregator. All bots
share this process, as Pipecat's own development runner runs its sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from livekit import api
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.transports.livekit.transport import LiveKitParams, LiveKitTransport
from pipecat.workers.runner import WorkerRunner

GREETING = "Hello, how can I help you today?"
# The system instruction of Pipecat's voice examples.
SYSTEM_INSTRUCTION = (
    "You are a helpful assistant in a voice conversation. Your responses will be spoken aloud, "
    "so avoid emojis, bullet points, or other formatting that can't be spoken. Respond to what "
    "the user said in a creative, helpful, and brief way."
)
PIPELINE_IDLE_TIMEOUT_SECS = 300
"""What Pipecat's development runner gives each session."""


@dataclass(frozen=True)
class PeerConfig:
    livekit_url: str
    api_key: str
    api_secret: str
    openai_base_url: str
    elevenlabs_url: str
    """ElevenLabs' websocket root, as `ElevenLabsTTSService(url=...)` takes it."""
    provider_key: str
    voice_id: str
    llm_model: str
    stt_model: str


def elevenlabs_ws_root(base_url: str) -> str:
    """`http://host:port/v1` (the REST base URL our runtime uses) -> `ws://host:port`."""
    root = base_url.rstrip("/").removesuffix("/v1")
    if root.startswith("https://"):
        return "wss://" + root.removeprefix("https://")
    if root.startswith("http://"):
        return "ws://" + root.removeprefix("http://")
    return root


def agent_token(config: PeerConfig, room: str, identity: str) -> str:
    """A token that joins `room` as a participant of kind AGENT.

    Pipecat's own `generate_token_with_agent` sets only the `agent` video grant; the `kind`
    claim is what LiveKit reports as the participant's kind, so both are set.
    """
    return (
        api.AccessToken(config.api_key, config.api_secret)
        .with_identity(identity)
        .with_name(identity)
        .with_kind("agent")
        .with_grants(api.VideoGrants(room_join=True, room=room, agent=True))
        .to_jwt()
    )


async def run_bot(config: PeerConfig, room: str, identity: str) -> None:
    """One call: join `room`, greet the caller, converse until the caller leaves."""
    transport = LiveKitTransport(
        url=config.livekit_url,
        token=agent_token(config, room, identity),
        room_name=room,
        params=LiveKitParams(audio_in_enabled=True, audio_out_enabled=True),
    )
    stt = OpenAISTTService(
        api_key=config.provider_key,
        base_url=config.openai_base_url,
        settings=OpenAISTTService.Settings(model=config.stt_model),
    )
    llm = OpenAILLMService(
        api_key=config.provider_key,
        base_url=config.openai_base_url,
        settings=OpenAILLMService.Settings(
            model=config.llm_model, system_instruction=SYSTEM_INSTRUCTION
        ),
    )
    tts = ElevenLabsTTSService(
        api_key=config.provider_key,
        url=config.elevenlabs_url,
        settings=ElevenLabsTTSService.Settings(voice=config.voice_id),
    )
    context = LLMContext()
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            user_aggregator,
            llm,
            tts,
            transport.output(),
            assistant_aggregator,
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        idle_timeout_secs=PIPELINE_IDLE_TIMEOUT_SECS,
    )

    @transport.event_handler("on_first_participant_joined")
    async def on_first_participant_joined(_transport: Any, participant_id: str) -> None:
        logger.info(f"{room}: {participant_id} joined, greeting")
        await worker.queue_frame(TTSSpeakFrame(GREETING))

    @transport.event_handler("on_participant_disconnected")
    async def on_participant_disconnected(_transport: Any, participant_id: str) -> None:
        logger.info(f"{room}: {participant_id} left, ending the call")
        await worker.cancel()

    @transport.event_handler("on_disconnected")
    async def on_disconnected(_transport: Any) -> None:
        await worker.cancel()  # a no-op once the call has ended

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


class Peer:
    """The HTTP front: starts and tracks the bots."""

    def __init__(self, config: PeerConfig) -> None:
        self.config = config
        self.calls: dict[str, asyncio.Task[None]] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/calls", self.start_call), web.get("/health", self.health)])
        app.on_shutdown.append(self.end_calls)
        return app

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "calls": len(self.calls)})

    async def start_call(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"detail": "the body must be JSON"}, status=400)
        room = body.get("room") if isinstance(body, dict) else None
        if not isinstance(room, str) or not room:
            return web.json_response({"detail": "room: a room name is required"}, status=400)
        if room in self.calls:
            return web.json_response({"detail": f"a bot is already in {room}"}, status=409)
        identity = f"pipecat-agent-{uuid.uuid4().hex[:6]}"
        task = asyncio.create_task(self._call(room, identity), name=f"call-{room}")
        self.calls[room] = task
        task.add_done_callback(lambda _t: self.calls.pop(room, None))
        return web.json_response({"room": room, "identity": identity}, status=202)

    async def _call(self, room: str, identity: str) -> None:
        logger.info(f"{room}: starting {identity}")
        try:
            await run_bot(self.config, room, identity)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(f"{room}: the bot failed")
        finally:
            logger.info(f"{room}: call ended ({len(self.calls) - 1} left)")

    async def end_calls(self, _app: web.Application) -> None:
        tasks = list(self.calls.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--livekit-url", required=True, help="ws://host:port")
    p.add_argument("--api-key", required=True, help="LiveKit API key")
    p.add_argument("--api-secret", required=True, help="LiveKit API secret")
    p.add_argument("--openai-base-url", required=True, help="e.g. http://127.0.0.1:9391/v1")
    p.add_argument(
        "--elevenlabs-base-url", required=True, help="e.g. http://127.0.0.1:9392/v1 (or ws://)"
    )
    p.add_argument("--provider-key", required=True, help="API key for both providers")
    p.add_argument("--voice-id", default="EXAVITQu4vr4xnSDxMaL")
    p.add_argument("--llm-model", default="gpt-4o-mini")
    p.add_argument("--stt-model", default="whisper-1")
    p.add_argument("--log-level", default="INFO", help="loguru level (Pipecat's runner: DEBUG)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    config = PeerConfig(
        livekit_url=args.livekit_url,
        api_key=args.api_key,
        api_secret=args.api_secret,
        openai_base_url=args.openai_base_url,
        elevenlabs_url=elevenlabs_ws_root(args.elevenlabs_base_url),
        provider_key=args.provider_key,
        voice_id=args.voice_id,
        llm_model=args.llm_model,
        stt_model=args.stt_model,
    )

    def ready(_: object) -> None:
        print(f"pipecat peer ready on :{args.port}", flush=True)

    web.run_app(Peer(config).app(), host=args.host, port=args.port, print=ready)


if __name__ == "__main__":
    main()
