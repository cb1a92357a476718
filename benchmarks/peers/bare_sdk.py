"""The media floor: an agent that only hears and answers, on livekit's SDK alone.

The load-test peer that tells what any voice agent built on livekit's Python SDK pays per call
before it does anything of its own. It joins through LiveKit's agent dispatch (livekit-agents'
`AgentServer`, calls as threads of one process, as our worker runs them) and then uses the SDK
directly, with no session, no models and no providers:

- it hears the caller as our worker does: 16 kHz, 20 ms frames, each frame's energy against a
  threshold standing in for a VAD;
- after `BARE_HOLD_S` of quiet following speech it waits `BARE_PROVIDER_MS` (what STT, LLM and
  TTS would take) and plays a fixed reply: the fake LLM's answer (`BARE_REPLY`) spoken by
  espeak-ng, in 50 ms frames at 24 kHz through a 200 ms source queue, as livekit-agents' room
  output does;
- 60 ms of caller speech over the reply stops it (a barge-in), as our default minimum
  interruption does.

With `EVENT_ROUTING=true` (the default) livekit's audio events go straight to their call, as
in our worker (`agent_worker.ffi_routing`).

Run: `python benchmarks/peers/bare_sdk.py start` with `LIVEKIT_URL`, `LIVEKIT_API_KEY`,
`LIVEKIT_API_SECRET` and `VOICE_AGENT_NAME` (the dispatch name) set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from livekit import rtc  # noqa: E402
from livekit.agents import AgentServer, AutoSubscribe, JobContext, JobExecutorType, cli  # noqa: E402

from livekit_patches import ffi_routing  # noqa: E402
from simulator.audio import frame_rms_dbfs  # noqa: E402
from simulator.load import REPLY  # noqa: E402
from simulator.speech import render_speech  # noqa: E402

IN_RATE, IN_FRAME_MS = 16000, 20
OUT_RATE, OUT_FRAME_MS = 24000, 50
SPEECH_DBFS = -45.0
HOLD_S = float(os.environ.get("BARE_HOLD_S", "0.6"))
PROVIDER_S = float(os.environ.get("BARE_PROVIDER_MS", "600")) / 1000
INTERRUPT_S = 0.06
GREETING = "Hello, how can I help you today?"


class Speaker:
    """Plays one utterance at a time on the agent's track; `stop` silences it at once."""

    def __init__(self, source: rtc.AudioSource) -> None:
        self._source = source
        self._task: asyncio.Task[None] | None = None

    @property
    def speaking(self) -> bool:
        return self._task is not None and not self._task.done()

    def play(self, audio: np.ndarray) -> None:
        self.stop()
        self._task = asyncio.create_task(self._play(audio))

    async def _play(self, audio: np.ndarray) -> None:
        step = OUT_RATE * OUT_FRAME_MS // 1000
        for i in range(0, len(audio) - step + 1, step):
            frame = rtc.AudioFrame(audio[i : i + step].tobytes(), OUT_RATE, 1, step)
            await self._source.capture_frame(frame)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._source.clear_queue()


def load(server: AgentServer) -> float:
    # every dispatched call is taken: the limit is what the load test measures
    return min(1.0, len(server.active_jobs) / 1000)


if os.environ.get("EVENT_ROUTING", "true").lower() == "true":
    ffi_routing.install()

server = AgentServer(
    job_executor_type=JobExecutorType.THREAD,
    load_fnc=load,
    load_threshold=0.999,
    num_idle_processes=2,  # as our worker: a call never waits for its runner
    port=int(os.environ.get("WORKER_HTTP_PORT", "8081")),
    host="127.0.0.1",
)
greeting = render_speech(GREETING, rate=OUT_RATE)
reply = render_speech(os.environ.get("BARE_REPLY", REPLY), rate=OUT_RATE)


@server.rtc_session(agent_name=os.environ.get("VOICE_AGENT_NAME", "bare"))
async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect(auto_subscribe=AutoSubscribe.AUDIO_ONLY)
    source = rtc.AudioSource(OUT_RATE, 1, queue_size_ms=200)
    track = rtc.LocalAudioTrack.create_audio_track("agent", source)
    opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await ctx.room.local_participant.publish_track(track, opts)
    caller = await ctx.wait_for_participant()
    ended = asyncio.Event()
    ctx.room.on(
        "participant_disconnected", lambda p: ended.set() if p.identity == caller.identity else None
    )
    speaker = Speaker(source)
    speaker.play(greeting)
    stream = rtc.AudioStream.from_participant(
        participant=caller,
        track_source=rtc.TrackSource.SOURCE_MICROPHONE,
        sample_rate=IN_RATE,
        num_channels=1,
        frame_size_ms=IN_FRAME_MS,
    )
    answer: asyncio.TimerHandle | None = None
    voiced = quiet = 0.0
    in_turn = False
    frame_s = IN_FRAME_MS / 1000

    async def listen() -> None:
        nonlocal answer, voiced, quiet, in_turn
        async for ev in stream:
            if frame_rms_dbfs(np.frombuffer(ev.frame.data, np.int16)) > SPEECH_DBFS:
                voiced, quiet = voiced + frame_s, 0.0
            else:
                voiced, quiet = 0.0, quiet + frame_s
            if voiced >= INTERRUPT_S:
                in_turn = True
                if answer is not None:
                    answer.cancel()
                    answer = None
                if speaker.speaking:
                    speaker.stop()
            elif in_turn and quiet >= HOLD_S:
                in_turn = False
                answer = asyncio.get_running_loop().call_later(PROVIDER_S, speaker.play, reply)

    listening = asyncio.create_task(listen())
    try:
        await ended.wait()
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        speaker.stop()
        await stream.aclose()
        await source.aclose()
        await ctx.room.disconnect()
        ctx.shutdown(reason="caller left")


if __name__ == "__main__":
    cli.run_app(server)
