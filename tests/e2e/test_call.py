"""A whole call: the simulated caller asks a question and hears the agent answer."""

from __future__ import annotations

import pytest

from agent.contract import AgentConfig
from simulator.caller import CallScript, Utterance, place_call
from simulator.speech import render_speech
from simulator.stack import Stack
from simulator.transcribe import HeardTranscriber
from tests.conftest import TEST_AGENT_NAME
from tests.helpers import words

pytestmark = pytest.mark.e2e


async def test_caller_hears_greeting_and_a_transcribed_reply(idle_stack: Stack) -> None:
    stack = idle_stack
    config = AgentConfig(first_message="Hello! This is the test desk. How can I help?")
    question = "Hi there. What is the capital of France?"
    script = CallScript(
        turns=[Utterance(render_speech(question), question)],
        agent_name=TEST_AGENT_NAME,
        metadata=config.to_metadata(),
        greeting_timeout=60,
        reply_timeout=60,
    )
    report = await HeardTranscriber().fill(await place_call(stack.endpoint, script))

    assert report.greeting is not None, "no greeting heard"
    assert {"test", "help"} <= words(report.greeting.transcript), report.greeting.transcript
    assert len(report.turns) == 1
    turn = report.turns[0]
    assert turn.reply is not None, "no reply heard"
    assert turn.reply.duration > 0.3
    assert len(turn.reply.transcript.split()) >= 2, turn.reply.transcript
    assert turn.voice_to_voice is not None and 0 < turn.voice_to_voice < 30
    # The agent-side breakdown arrived over the data channel.
    for key in ("end_of_utterance_delay", "stt_duration", "llm_ttft", "tts_ttfb"):
        assert turn.agent_metrics.get(key, -1) >= 0, (key, turn.agent_metrics)
