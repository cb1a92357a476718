"""Silence and duration rules against a session stand-in that emits the framework's state
events; backchannel recognition; the agent's lines in its language."""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit import rtc
from livekit.agents.voice import AgentStateChangedEvent, UserStateChangedEvent

from agent.contract import AgentConfig, CustomResponses, TurnDetection
from agent_worker.rules import CallRules, line
from pipelines.backchannel import is_backchannel


class SessionStandIn(rtc.EventEmitter):
    """The parts of `AgentSession` the rules read: states, their events, `say`."""

    def __init__(self) -> None:
        super().__init__()
        self.agent_state = "initializing"
        self.user_state = "listening"
        self.said: list[tuple[float, str]] = []
        self.spoke = asyncio.Event()

    def agent(self, state: str) -> None:
        old, self.agent_state = self.agent_state, state
        self.emit("agent_state_changed", AgentStateChangedEvent(old_state=old, new_state=state))

    def user(self, state: str) -> None:
        old, self.user_state = self.user_state, state
        self.emit("user_state_changed", UserStateChangedEvent(old_state=old, new_state=state))

    def say(self, text: str) -> None:
        self.said.append((time.monotonic(), text))
        self.spoke.set()


def config(timeout: float, end: float, max_duration: float = 3600.0) -> AgentConfig:
    agent = AgentConfig(
        turn_detection=TurnDetection(timeout=timeout, end_call_on_silence=end),
        custom_responses=CustomResponses(reprompt="Still there?"),
    )
    # A maximum under the contract's 10 s keeps the test short; the rule's timing is the same.
    return agent.model_copy(update={"max_duration_seconds": max_duration})


async def run_rules(session: SessionStandIn, cfg: AgentConfig) -> tuple[CallRules, asyncio.Future]:
    ended: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()

    async def end_call(reason: str) -> None:
        ended.set_result((time.monotonic(), reason))

    rules = CallRules(session, cfg, end_call)  # type: ignore[arg-type]
    rules.start()
    return rules, ended


async def test_silence_reprompts_once_then_ends_the_call() -> None:
    session = SessionStandIn()
    rules, ended = await run_rules(session, config(timeout=0.3, end=1.0))
    session.agent("speaking")
    session.agent("listening")
    turn_end = time.monotonic()
    # The reprompt is the agent's own turn: it does not restart the count to the end.
    await asyncio.wait_for(session.spoke.wait(), 5)
    session.agent("speaking")
    session.agent("listening")
    at, reason = await asyncio.wait_for(ended, 5)
    assert reason == "silence_timeout"
    assert [text for _, text in session.said] == ["Still there?"]
    assert 0.25 <= session.said[0][0] - turn_end < 0.6
    assert 0.95 <= at - turn_end < 1.4
    await rules.aclose()


async def test_caller_speech_restarts_the_count() -> None:
    session = SessionStandIn()
    rules, ended = await run_rules(session, config(timeout=0.4, end=0.8))
    session.agent("listening")
    await asyncio.sleep(0.3)
    session.user("speaking")  # before the reprompt is due
    await asyncio.sleep(0.6)  # talking for longer than the reprompt delay: no reprompt
    assert session.said == [] and not ended.done()
    session.user("listening")
    restarted = time.monotonic()
    at, reason = await asyncio.wait_for(ended, 5)
    assert reason == "silence_timeout" and at - restarted >= 0.75
    assert len(session.said) == 1
    await rules.aclose()


async def test_a_silence_shorter_than_the_reprompt_delay_ends_without_reprompt() -> None:
    session = SessionStandIn()
    rules, ended = await run_rules(session, config(timeout=5.0, end=0.3))
    session.agent("listening")
    _, reason = await asyncio.wait_for(ended, 5)
    assert reason == "silence_timeout" and session.said == []
    await rules.aclose()


async def test_max_duration_ends_even_a_lively_call() -> None:
    session = SessionStandIn()
    started = time.monotonic()
    rules, ended = await run_rules(session, config(timeout=60, end=60, max_duration=1.0))
    session.agent("speaking")
    session.user("speaking")
    at, reason = await asyncio.wait_for(ended, 5)
    assert reason == "max_duration" and 0.95 <= at - started < 1.5
    await rules.aclose()


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Mm-hmm.", "en", True),
        ("Mm-hmm-huh.", "en", True),
        ("Uh-uh.", "en", True),
        ("Uh- uh- uh- uh- uh- uh- uh", "en", True),  # coughs read after the prompt
        ("Mm-h", "en", True),
        ("Yeah, yeah, okay.", "en", True),
        ("(coughs)", "en", True),
        ("[laughter]", "en", True),
        ("", "en", True),
        ("نعم", "ar", True),
        ("تمام، تمام", "ar", True),
        ("and then", "en", True),
        ("So.", "en", True),
        ("Wait, stop please.", "en", False),
        ("Stop-stop.", "en", False),
        ("s-stop", "en", False),
        ("yeah okay so the", "en", False),
        ("So what about Sunday?", "en", False),
        ("Yes, I want two tickets.", "en", False),
        ("What time do you open?", "en", False),
        ("هل أنتم مفتوحون غداً؟", "ar", False),
    ],
)
def test_backchannels(text: str, language: str, expected: bool) -> None:
    assert is_backchannel(text, language) is expected


def test_lines_in_the_agents_language() -> None:
    assert line(AgentConfig(language="ar"), "reprompt") == "هل ما زلت معي؟"
    assert line(AgentConfig(language="en-US"), "farewell") == "Thank you for calling. Goodbye!"
    assert line(AgentConfig(language="sw"), "reprompt") == "Are you still there?"
    assert line(AgentConfig(custom_responses=CustomResponses(farewell="Bye now.")), "farewell") == (
        "Bye now."
    )
