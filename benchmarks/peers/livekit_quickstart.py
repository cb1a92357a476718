"""Stock livekit-agents, configured as its voice AI quickstart does: the load-test peer.

Silero VAD loaded once per job process, the framework's default turn handling (VAD endpointing,
default delays and interruption rules), the default process pool, OpenAI STT and LLM,
ElevenLabs TTS. Only what cannot run here is changed:

- the providers' URLs and keys come from the environment (`OPENAI_BASE_URL`, `OPENAI_API_KEY`,
  `ELEVENLABS_BASE_URL`, `ELEVEN_API_KEY`), so the fake vendor servers stand in for the clouds;
- no noise cancellation, which runs on LiveKit Cloud only. The session's default turn detector
  (`inference.TurnDetector`) is kept: it cannot reach LiveKit's inference gateway here and
  falls back to its bundled local model, as it does anywhere offline. When that model finds a
  turn unfinished, the session waits up to its 3 s maximum endpointing delay;
- the greeting is a fixed line said through TTS (`session.say`), as our runtime's
  `first_message` is, rather than an LLM-generated one;
- the worker's load counts its calls (as ours does), not the machine's CPU: the stock load
  marks it unavailable above 70% CPU, and a busy test machine's other processes made it take
  no call at all.

Run: `python benchmarks/peers/livekit_quickstart.py start` with `LIVEKIT_URL`,
`LIVEKIT_API_KEY`, `LIVEKIT_API_SECRET` and `LIVEKIT_AGENT_NAME` (the dispatch name) set.
"""

from __future__ import annotations

import os

from livekit.agents import (
    NOT_GIVEN,
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    JobProcess,
    NotGivenOr,
    cli,
)
from livekit.plugins import elevenlabs, openai, silero

GREETING = "Hello, how can I help you today?"
VOICE_ID = os.environ.get("ELEVENLABS_VOICE_ID", "EXAVITQu4vr4xnSDxMaL")

ELEVENLABS_URL: NotGivenOr[str] = os.environ.get("ELEVENLABS_BASE_URL") or NOT_GIVEN


def load(server: AgentServer) -> float:
    # every dispatched call is taken, as by our worker and the bare SDK: the limit is what the
    # load test measures
    return min(1.0, len(server.active_jobs) / 1000)


# Two server options are set: the health endpoint's port (the default, 8081, may be taken) and
# the load. As it ships the worker reports the machine's CPU as its load and stops taking calls
# above 70%: on a busy test machine, other processes' CPU made it refuse every call (the agent
# never joined: "worker is at full capacity, marking as unavailable", load 0.998).
server = AgentServer(
    port=int(os.environ.get("WORKER_HTTP_PORT", "8081")), load_fnc=load, load_threshold=0.999
)


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load()


server.setup_fnc = prewarm


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a helpful voice AI assistant.")


@server.rtc_session()  # the dispatch name comes from LIVEKIT_AGENT_NAME
async def entrypoint(ctx: JobContext) -> None:
    session: AgentSession[None] = AgentSession(
        stt=openai.STT(),
        llm=openai.LLM(model="gpt-4o-mini"),
        tts=elevenlabs.TTS(voice_id=VOICE_ID, base_url=ELEVENLABS_URL),
        vad=ctx.proc.userdata["vad"],
    )
    await session.start(room=ctx.room, agent=Assistant())
    session.say(GREETING)


if __name__ == "__main__":
    cli.run_app(server)
