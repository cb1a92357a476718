"""A load test's plan: its ports, the callers' words, the providers the agents use and what
the command line asks for (calls, turns, the capacity search, the runtime that answers), with
the latency budget it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict

from agent.contract import AgentConfig, TurnDetection

from ..audio import read_wav
from ..caller import Utterance
from ..speech import render_speech
from ..stack import StackError

PRODUCT_TURNS = TurnDetection()
"""The agents' turn detection as the product ships it: what a load test runs unless asked
otherwise, so its figures are those of the agents users run."""


class LoadPorts(TypedDict):
    """The private ports of a load test's stack (`StackConfig` fields)."""

    livekit_port: int
    livekit_udp_port: int
    llm_port: int
    worker_http_port: int


LOAD_PORTS: LoadPorts = {
    "livekit_port": 9380,
    "livekit_udp_port": 9382,
    "llm_port": 9388,
    "worker_http_port": 9381,
}
"""Clear of `make run` (78xx/80xx), the test suite and the other benchmarks."""
FAKE_PORTS = {"fake-openai": 9391, "fake-elevenlabs": 9392}
LOAD_AGENT = "load-agent"
PROVIDER_KEY = "sk-load-test-0001"
ELEVENLABS_VOICE = "EXAVITQu4vr4xnSDxMaL"

Runtime = Literal["ours", "livekit-agents", "pipecat", "bare"]
RUNTIMES: tuple[Runtime, ...] = ("ours", "livekit-agents", "pipecat", "bare")
STOCK_HOLD_S = 0.55
"""Stock livekit-agents' turn wait: Silero's `min_silence_duration` (0.55 s); the session's
default endpointing delay (0.5 s) runs from the last speech, inside that silence."""
PIPECAT_HOLD_S = 0.2
"""Pipecat's turn wait as it ships: Silero's `stop_secs` (0.2 s), after which its smart-turn
model judges the turn (its inference time on top; 3 s more when it judges the speech
unfinished)."""

QUESTIONS = [
    "Hi, I would like to book a table for two tonight.",
    "Do you have anything around seven o'clock?",
    "Can we sit by the window, please?",
    "Is there parking near the restaurant?",
    "Great. Please send me a confirmation by text message.",
]
BARGE_IN = "Sorry, wait, can you make it three people instead?"
REPLY = (
    "Of course. I have a table for you at seven tonight, by the window. "
    "Is there anything else I can help you with today?"
)
"""What the fake LLM answers every time: about 6 s of speech, long enough to barge in."""
TRANSCRIPT = "I would like to book a table for two tonight."


@dataclass
class Providers:
    """Where STT, LLM and TTS come from, and the latencies the fakes add."""

    kind: Literal["network", "local"] = "network"
    stt_ms: float = 150.0
    ttft_ms: float = 300.0
    token_ms: float = 10.0
    ttfb_ms: float = 150.0
    reply: str = REPLY
    """What the fake LLM answers every turn."""

    @property
    def latency_ms(self) -> float:
        """What the providers alone add to a turn (STT final, LLM first token, TTS first
        audio); 0 for the local engines, whose cost is the runtime's to measure."""
        return self.stt_ms + self.ttft_ms + self.ttfb_ms if self.kind == "network" else 0.0


@dataclass
class LoadPlan:
    mode: Literal["fixed", "capacity", "soak"] = "fixed"
    calls: int = 4
    turns: int | None = 6
    """Turns per call; None: until `duration` (or the step) ends."""
    call_turns: int | None = None
    """Hang up after this many turns and dial again, until the run ends (a soak that tells
    growth across calls from growth within one)."""
    duration: float | None = None
    ramp: float = 0.5
    """Seconds between two callers' starts."""
    barge_in_every: int = 4
    barge_in_after: float = 1.5
    reply_timeout: float = 15.0
    greeting_timeout: float = 30.0
    # capacity search
    start: int = 4
    step: int = 4
    max_calls: int = 64
    step_seconds: float = 60.0
    settle_seconds: float = 10.0
    min_step_turns: int = 40
    """A step goes on past `step_seconds` until this many turns measured voice-to-voice (a p95
    of 6-22 turns moved by hundreds of milliseconds from run to run, and the search with it),
    but no longer than `max_step_seconds`."""
    max_step_seconds: float = 300.0
    budget_ms: float | None = None
    baseline_budget: bool = False
    """Budget each step against the first one: its p95 plus `margin_ms` (a runtime whose own
    hold and providers already miss the absolute budget still gets a capacity: the calls it
    holds before its callers notice a change)."""
    margin_ms: float = 100.0
    # what the agents run
    providers: Providers = field(default_factory=Providers)
    vad: Literal["webrtc", "silero"] = PRODUCT_TURNS.vad
    hold: float = PRODUCT_TURNS.min_silence_duration
    executor: Literal["thread", "process"] = "thread"
    input_frame_ms: int = 20
    caller_frame_ms: int = 20
    """The simulated callers' frames, both ways (their share of the machine's CPU)."""
    event_routing: bool = True
    """livekit's audio events handed straight to their call, in the callers' process and
    our worker (`agent_worker.ffi_routing`); False: the SDK's delivery to every subscriber."""
    wav_dir: Path | None = None
    workers: int = 1
    """Our worker processes, all registered under the one agent name on the one
    livekit-server: LiveKit's dispatch spreads the calls between them."""
    worker_max_calls: int | None = None
    """Each worker's WORKER_MAX_CALLS; None: more than the test places, so none is refused."""
    phone: bool = False
    """Callers dial a number through a fake Twilio and the phone gateway (ours only)."""
    runtime: Runtime = "ours"
    """Whose agents answer: this runtime's worker, or a peer (stock livekit-agents as its
    quickstart configures it, or Pipecat), with the same providers; peers need network ones.
    "bare" is the media floor: livekit's SDK alone hearing and answering with a fixed reply
    after the hold and the providers' latency, no session and no providers
    (`benchmarks/peers/bare_sdk.py`)."""

    def worker_names(self) -> list[str]:
        """The process name of each worker: "worker" alone, else "worker-1", "worker-2"...
        (their sum is reported as "worker")."""
        if self.workers == 1:
            return ["worker"]
        return [f"worker-{i}" for i in range(1, self.workers + 1)]

    def agent(self) -> AgentConfig:
        td = TurnDetection(vad=self.vad, min_silence_duration=self.hold)
        if self.providers.kind == "local":
            return AgentConfig(turn_detection=td)
        return AgentConfig(
            turn_detection=td,
            stt_provider="openai",
            llm_model="gpt-4o-mini",
            voice_id=ELEVENLABS_VOICE,
        )

    def hold_ms(self) -> float:
        """The configured wait before the agent may answer after the caller's last word.

        livekit-agents counts the endpointing delay from the last speech, so it overlaps the
        VAD's silence hold: the wait is the longer of the two.
        """
        if self.runtime == "livekit-agents":
            return 1000 * STOCK_HOLD_S
        if self.runtime == "pipecat":
            return 1000 * PIPECAT_HOLD_S
        if self.runtime == "bare":
            return 1000 * self.hold
        td = self.agent().turn_detection
        return 1000 * max(td.min_silence_duration, td.min_endpointing_delay)

    @property
    def budget_from_baseline(self) -> bool:
        """Whether the budget comes from the first step: asked for, or the embedded engines,
        whose own latency has no configured figure to add to the hold."""
        return self.budget_ms is None and (self.baseline_budget or self.providers.kind == "local")

    def default_budget_ms(self) -> float | None:
        """The target: p95 voice-to-voice within 100 ms of hold + provider latencies (None
        until the first step is measured, when `budget_from_baseline`)."""
        if self.budget_ms is not None:
            return self.budget_ms
        if self.budget_from_baseline:
            return None
        return self.hold_ms() + self.providers.latency_ms + self.margin_ms


def describe(plan: LoadPlan) -> str:
    """One line on what the plan runs: the load, the providers and the agents' turn wait."""
    p = plan.providers
    providers = (
        f"network providers (fake STT {p.stt_ms:g} ms, LLM TTFT {p.ttft_ms:g} ms, "
        f"TTS TTFB {p.ttfb_ms:g} ms)"
        if p.kind == "network"
        else "the embedded engines"
    )
    if plan.mode == "capacity":
        what = f"capacity search from {plan.start} calls, +{plan.step} per step"
    elif plan.duration is not None:
        what = f"{plan.calls} calls for {plan.duration:g} s"
    else:
        what = f"{plan.calls} calls of {plan.turns} turns"
    if plan.runtime != "ours":
        return f"{what}, {providers}, {plan.runtime} as it ships (hold {plan.hold_ms():.0f} ms)"
    workers = f", {plan.workers} workers" if plan.workers > 1 else ""
    line = " over phone lines (fake Twilio, phone gateway)" if plan.phone else ""
    return f"{what}{line}, {providers}, {plan.vad} VAD hold {plan.hold:g} s{workers}"


def load_utterances(wav_dir: Path | None) -> list[Utterance]:
    """The callers' questions in espeak-ng's voice, or the .wav files in `wav_dir`."""
    if wav_dir is None:
        return [Utterance(render_speech(q), q) for q in QUESTIONS]
    files = sorted(wav_dir.glob("*.wav"))
    if not files:
        raise StackError(f"no .wav files in {wav_dir}")
    return [Utterance(read_wav(f), f.stem) for f in files]
