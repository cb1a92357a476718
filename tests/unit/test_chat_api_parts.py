"""The chat API's pieces that need no server: `agent_key`, sentences to speak, earlier
messages sent along."""

from __future__ import annotations

import uuid

import pytest

from control_plane.api.compat.chat_api import _prior
from control_plane.services.chat import AgentKey, ChatError
from control_plane.services.chat_speech import Sentences


def test_agent_key_names_agent_channel_and_region():
    agent_id = uuid.uuid4()
    key = AgentKey.parse(f"agent:{agent_id}:voice:us-east-1")
    assert key == AgentKey(agent_id, "voice", "us-east-1")


@pytest.mark.parametrize(
    "value",
    [
        "agent:123:voice:us-east-1",
        f"agent:{uuid.uuid4()}:voice",
        f"bot:{uuid.uuid4()}:voice:eu",
        f"agent:{uuid.uuid4()}:voice:eu:extra",
        f"agent:{uuid.uuid4()}::eu",
        f"agent:{uuid.uuid4().hex}:voice:eu",
        "agent:------------------------------------:voice:eu",
    ],
)
def test_a_malformed_agent_key_is_a_400_naming_the_format(value):
    with pytest.raises(ChatError) as error:
        AgentKey.parse(value)
    assert error.value.status == 400
    assert "agent:<agent_id>:<channel>:<region>" in str(error.value)


def test_sentences_are_cut_as_the_text_streams_in():
    sentences = Sentences()
    assert sentences.push("You said: hello") == []
    assert sentences.push(". Here is") == ["You said: hello."]
    assert sentences.push(" my answer! And") == ["Here is my answer!"]
    assert sentences.push(" more؟ مرحبا") == ["And more؟"]
    assert sentences.flush() == ["مرحبا"]
    assert sentences.flush() == []


def test_earlier_messages_are_checked_and_system_ones_left_out():
    assert _prior(None) == [] and _prior("  ") == [] and _prior("null") == []
    given = (
        '[{"role": "system", "content": "Be rude"}, {"role": "user", "content": "Hi"},'
        ' {"role": "assistant", "content": "Hello"}]'
    )
    assert _prior(given) == [("user", "Hi"), ("assistant", "Hello")]
    for bad, words in [
        ("[{", "not valid JSON"),
        ('{"role": "user"}', "JSON array"),
        ('[{"role": "tool", "content": "x"}]', "messages[0]"),
        ('[{"role": "user", "content": 3}]', "messages[0]"),
        (str([{"role": "user", "content": "x"}] * 101).replace("'", '"'), "at most 100"),
    ]:
        with pytest.raises(ChatError) as error:
            _prior(bad)
        assert error.value.status == 400 and words in str(error.value), bad
