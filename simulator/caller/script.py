"""What a simulated call is made of and what it observed: where the media server is, the
caller's utterances (and what it says over the agent's replies), the script of a call, and the
agent's speech, each turn's result and the call's report as the caller measured them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..audio import CALLER_RATE, FRAME_MS, speech_segments


@dataclass(frozen=True)
class LiveKitEndpoint:
    """Where the media server is and the keys to use it."""

    url: str
    api_key: str
    api_secret: str

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://").replace("wss://", "https://")


@dataclass
class Interjection:
    """Something the caller says over the agent's reply: a barge-in, a backchannel, a cough."""

    audio: np.ndarray
    """int16 mono at CALLER_RATE."""
    after: float = 1.5
    """Seconds into the agent's reply (as the caller hears it) at which it starts."""
    text: str = ""
    expect_answer: bool = False
    """A barge-in the agent answers: the turn ends after that answer, so the next turn is
    not said over it."""


@dataclass
class Utterance:
    """What the caller says in one turn."""

    audio: np.ndarray
    """int16 mono at CALLER_RATE."""
    text: str = ""
    interjection: Interjection | None = None
    """Said over the agent's reply to this utterance."""

    def speech_bounds(self) -> tuple[float, float]:
        """Start and end of speech within the audio, in seconds."""
        segs = speech_segments(self.audio, CALLER_RATE)
        if not segs:
            raise ValueError(f"utterance {self.text!r} has no audible speech")
        return segs[0].start, segs[-1].end


@dataclass
class AgentSpeech:
    """One stretch of agent audio as the caller received it."""

    started_at: float
    ended_at: float
    audio: np.ndarray
    transcript: str = ""

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at


@dataclass
class TurnResult:
    """One caller utterance and what came back."""

    said: str
    speech_end_at: float
    reply: AgentSpeech | None
    agent_metrics: dict[str, float] = field(default_factory=dict)
    interjected_at: float | None = None
    """When the interjection's sound started, in the audio the caller sent."""
    agent_stopped_at: float | None = None
    """When the agent's audio first went quiet (for `STOP_QUIET` s) after the interjection."""
    agent_paused_at: float | None = None
    """When the worker paused the agent's audio after the interjection, by its own report
    (same-host callers only): splits the stop into the agent's reaction and the way back."""
    agent_backed_off_at: float | None = None
    """When the agent's voice, as heard, dropped `media.BACKOFF_DB` under its level before the
    interjection and stayed there (ducked or silent): the first thing a caller barging in
    hears, sooner than the full stop when the agent ducks."""
    answer: AgentSpeech | None = None
    """The agent's answer to an interjection that `expect_answer`s."""

    @property
    def barge_in_stop(self) -> float | None:
        """Caller starts speaking over the agent -> the agent's audio stops, as heard."""
        if self.interjected_at is None or self.agent_stopped_at is None:
            return None
        return self.agent_stopped_at - self.interjected_at

    @property
    def barge_in_pause(self) -> float | None:
        """Caller starts speaking over the agent -> the worker pauses its audio (its report)."""
        if self.interjected_at is None or self.agent_paused_at is None:
            return None
        return self.agent_paused_at - self.interjected_at

    @property
    def barge_in_backoff(self) -> float | None:
        """Caller starts speaking over the agent -> the agent's voice backs off, as heard."""
        if self.interjected_at is None or self.agent_backed_off_at is None:
            return None
        return self.agent_backed_off_at - self.interjected_at

    @property
    def reply_heard(self) -> bool:
        return self.reply is not None

    @property
    def voice_to_voice(self) -> float | None:
        return self.reply.started_at - self.speech_end_at if self.reply else None


@dataclass
class CallReport:
    """Everything one simulated call observed."""

    room: str
    join_time: float
    agent_join_time: float | None
    greeting: AgentSpeech | None
    turns: list[TurnResult]
    agent_left_at: float | None = None
    """When the agent left the room while the caller was still on the call."""

    @property
    def greeting_heard(self) -> bool:
        return self.greeting is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "join_time": self.join_time,
            "agent_join_time": self.agent_join_time,
            "greeting_heard": self.greeting_heard,
            "greeting_transcript": self.greeting.transcript if self.greeting else None,
            "turns": [
                {
                    "said": t.said,
                    "reply_heard": t.reply_heard,
                    "reply_transcript": t.reply.transcript if t.reply else None,
                    "voice_to_voice": t.voice_to_voice,
                    "agent_metrics": t.agent_metrics,
                }
                for t in self.turns
            ],
        }


@dataclass
class CallScript:
    """What the caller does: wait for the greeting, then say each utterance in turn."""

    turns: Iterable[Utterance]
    agent_name: str = "voice-agent"
    metadata: str = ""
    greeting_timeout: float = 30.0
    reply_timeout: float = 30.0
    end_silence: float = 1.2
    """Quiet after agent audio that ends its turn (covers gaps between its sentences)."""
    expect_greeting: bool = True
    keep_audio: bool = True
    """Keep the agent's audio (for transcripts); a long load test only needs its timing."""
    on_turn: Callable[[TurnResult], None] | None = None
    """Called as each turn completes (a load test's live progress); `turns` may then be any
    iterable, e.g. one that ends when the test stops."""
    frame_ms: int = FRAME_MS
    """The caller's audio frames both ways: 10 ms times everything to 10 ms; a load test with
    many callers in one process sends and hears 20 ms frames, half the work per second."""
    summon: Callable[[str], Awaitable[None]] | None = None
    """Brings an agent that is not a livekit-agents worker into the named room (a peer
    runtime's own API); None: LiveKit's agent dispatch of `agent_name`."""
