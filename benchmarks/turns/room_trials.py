"""What the simulated caller says to the agent, turn by turn: a question, then a corpus clip
cut to its sound over the reply; and what the fake model replies.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.turns.common import Clip
from benchmarks.turns.sounds import RATE
from shared.audio import resample
from simulator.audio import CALLER_RATE
from simulator.speech import render_speech

ONSET_LEAD = 0.05
"""Seconds of the clip kept before its sound."""
QUESTIONS = (
    "When does the bakery open on Sundays?",
    "Can you tell me about your opening hours?",
    "Hello, when are you open this week?",
    "What time do you bake your fresh bread?",
)
LONG_REPLY = (
    "Our bakery opens at seven in the morning from Monday to Friday, and at eight on Saturdays. "
    "On Sundays we open at nine and close early, at two in the afternoon. "
    "Fresh bread comes out of the oven every morning at half past seven, "
    "and we bake cakes to order, which you can collect from ten o'clock on the day you choose. "
    "For a birthday cake, please order it at least two days ahead."
)
SHORT_REPLY = "Sure, go ahead."


@dataclass(frozen=True, eq=False)
class Spoken:
    """A corpus clip as the caller says it over the agent: cut to its sound, at CALLER_RATE."""

    clip: Clip
    audio: np.ndarray = field(repr=False)
    onset: float
    """Seconds into `audio` at which the sound starts."""

    @classmethod
    def of(cls, clip: Clip) -> Spoken:
        start = max(0, round((clip.speech_start - ONSET_LEAD) * RATE))
        end = min(len(clip.samples), round((clip.speech_end + 0.2) * RATE))
        audio = resample(clip.samples[start:end], RATE, CALLER_RATE)
        return cls(clip, audio, clip.speech_start - start / RATE)


@dataclass(frozen=True, eq=False)
class Trial:
    """One turn: a question, then `spoken` over the agent's reply."""

    kind: str
    """Either `barge_in` (a plain sentence) or `backchannel`."""
    spoken: Spoken
    question: str
    question_audio: np.ndarray = field(repr=False)


class ScriptedModel:
    """The fake LLM's replies: `LONG_REPLY` to a question, `SHORT_REPLY` to anything asked once
    an interjection began (the agent answering what it heard), with the words it was given."""

    def __init__(self) -> None:
        self.interjected_at: float | None = None
        self.requests: list[tuple[float, str]] = []

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        if self.interjected_at is None:
            return LONG_REPLY
        self.requests.append((time.monotonic(), last_user_text(messages)))
        return SHORT_REPLY

    def answered_since(self, t: float) -> list[str]:
        return [text for at, text in self.requests if at >= t]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict)).strip()
        return str(content or "").strip()
    return ""


def interleave(groups: list[list[Clip]], n: int, rng: np.random.Generator) -> list[Clip]:
    """`n` clips taken from each group in turn, each group shuffled (and cycled when short)."""
    cycles = [
        itertools.cycle([group[i] for i in rng.permutation(len(group))])
        for group in groups
        if group
    ]
    return [next(cycles[i % len(cycles)]) for i in range(n)]


def plan_trials(clips: list[Clip], trials: int, seed: int) -> list[Trial]:
    """Barge-ins and backchannels, alternating, from the clean clips (espeak-ng and Piper
    sentences in turn; words and sounds in turn)."""
    rng = np.random.default_rng(seed)
    clean = [c for c in clips if c.snr_db is None]
    plain = [c for c in clean if c.category == "plain"]
    back = [c for c in clean if c.category == "backchannel"]
    barge = interleave(
        [[c for c in plain if c.engine == e] for e in ("espeak", "piper")], trials, rng
    )
    nods = interleave(
        [[c for c in back if c.kind == "word"], [c for c in back if c.kind != "word"]], trials, rng
    )
    questions = {q: render_speech(q) for q in QUESTIONS}
    plan = []
    for i, clip in enumerate(c for pair in zip(barge, nods, strict=True) for c in pair):
        question = QUESTIONS[i % len(QUESTIONS)]
        kind = "barge_in" if clip.category == "plain" else "backchannel"
        plan.append(Trial(kind, Spoken.of(clip), question, questions[question]))
    return plan
