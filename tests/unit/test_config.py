from __future__ import annotations

import json

import pydantic
import pytest

from agent.contract import (
    DEFAULT_SYSTEM_PROMPT,
    AgentConfig,
    InvalidAgentConfigError,
    TurnDetection,
)


def metadata(**agent) -> str:
    return json.dumps({"agent": agent})


def test_defaults():
    config = AgentConfig()
    assert config.language == "en"
    assert config.temperature == 0.7
    assert config.voice_id == "local:en_US-joe-medium"
    assert config.voice_speed == 100.0
    assert config.llm_base_url is None
    assert config.max_completion_tokens == 80
    assert config.system_prompt == DEFAULT_SYSTEM_PROMPT
    td = config.turn_detection
    assert td == TurnDetection()
    assert (td.vad_aggressiveness, td.vad_frame_ms) == (2, 20)
    assert (td.min_speech_duration, td.min_silence_duration) == (0.1, 0.6)
    assert (td.vad, td.min_interruption_duration) == ("silero", 0.06)
    assert td.allow_interruptions is True


@pytest.mark.parametrize("raw", [None, "", "   \n", "{}", '{"agent": null}', '{"agent": {}}'])
def test_empty_metadata_is_the_default(raw):
    assert AgentConfig.from_metadata(raw) == AgentConfig()


def test_metadata_round_trip():
    config = AgentConfig(
        name="Booking desk",
        first_message="Hi!",
        temperature=0.2,
        llm_base_url="http://127.0.0.1:9000/v1",
        voice_speed=140,
        turn_detection=TurnDetection(
            vad_aggressiveness=3, vad_frame_ms=30, min_silence_duration=0.6
        ),
    )
    raw = config.to_metadata()
    assert json.loads(raw)["agent"]["turn_detection"]["vad_frame_ms"] == 30
    assert AgentConfig.from_metadata(raw) == config
    assert AgentConfig.from_metadata(AgentConfig().to_metadata()) == AgentConfig()


def test_partial_metadata_overrides_only_given_fields():
    config = AgentConfig.from_metadata(
        metadata(temperature=0.1, turn_detection={"min_silence_duration": 0.8})
    )
    assert config.temperature == 0.1
    assert config.turn_detection.min_silence_duration == 0.8
    assert config.turn_detection.vad_frame_ms == 20
    assert config.name == AgentConfig().name


def test_unknown_keys_are_ignored():
    raw = json.dumps({"agent": {"name": "X", "future_option": [1, 2]}, "other": 1})
    config = AgentConfig.from_metadata(raw)
    assert config.name == "X"
    assert not hasattr(config, "future_option")


def test_config_is_frozen():
    config = AgentConfig()
    with pytest.raises(pydantic.ValidationError):
        config.temperature = 0.1  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        config.turn_detection.vad_frame_ms = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('"agent"', "JSON object"),
        ("42", "JSON object"),
    ],
)
def test_malformed_metadata_raises(raw, expected):
    with pytest.raises(InvalidAgentConfigError, match=expected):
        AgentConfig.from_metadata(raw)


@pytest.mark.parametrize(
    ("agent", "field"),
    [
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"voice_speed": 10}, "voice_speed"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"turn_detection": {"vad_aggressiveness": 4}}, "turn_detection.vad_aggressiveness"),
        ({"turn_detection": {"min_silence_duration": 0.01}}, "turn_detection.min_silence_duration"),
        ({"turn_detection": "fast"}, "turn_detection"),
        ({"temperature": 2.0, "voice_speed": 1000}, "voice_speed"),
    ],
)
def test_out_of_range_value_names_the_field(agent, field):
    with pytest.raises(InvalidAgentConfigError, match=field.replace(".", r"\.")) as info:
        AgentConfig.from_metadata(json.dumps({"agent": agent}))
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


def test_bad_vad_frame_ms_names_the_field():
    with pytest.raises(InvalidAgentConfigError) as info:
        AgentConfig.from_metadata(metadata(turn_detection={"vad_frame_ms": 25}))
    assert "vad_frame_ms" in str(info.value)


def test_bad_vad_frame_ms_is_rejected():
    with pytest.raises(InvalidAgentConfigError, match="turn_detection"):
        AgentConfig.from_metadata(metadata(turn_detection={"vad_frame_ms": 25}))
    for ok in (10, 20, 30):
        assert TurnDetection(vad_frame_ms=ok).vad_frame_ms == ok


def test_non_object_agent_value_gives_a_useful_message():
    with pytest.raises(InvalidAgentConfigError) as info:
        AgentConfig.from_metadata(json.dumps({"agent": 5}))
    assert not str(info.value).rstrip().endswith(":"), str(info.value)
