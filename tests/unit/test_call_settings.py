"""A call's own settings (`POST /conversations` with seed 004's `settings`) applied to the
agent's config for that call only."""

from __future__ import annotations

from agent.contract import AgentConfig, Privacy
from agent_worker.agents import with_call_settings


def test_the_call_settings_change_this_call_only():
    agent = AgentConfig(voice_speed=120.0, language="en")
    call = with_call_settings(
        agent,
        {
            "language": "en-US",
            "settings": {"voice_speed": 1.5, "voice_pitch": "high", "recording_enabled": False},
        },
    )
    assert call.voice_speed == 180.0 and call.voice_pitch == "high"
    assert call.language == "en-US"
    assert call.privacy.delete_audio is True
    assert agent.voice_speed == 120.0 and agent.privacy.delete_audio is False


def test_the_speed_stays_within_the_voices_range_and_bad_values_are_ignored():
    fast = AgentConfig(voice_speed=180.0)
    assert with_call_settings(fast, {"settings": {"voice_speed": 2.0}}).voice_speed == 200.0
    unchanged = {
        "settings": {"voice_speed": 9, "voice_pitch": "shrill", "recording_enabled": "no"},
    }
    assert with_call_settings(fast, unchanged) == fast
    assert with_call_settings(fast, {"settings": "fast"}) == fast
    assert with_call_settings(fast, {}) is fast


def test_recording_enabled_cannot_override_the_agents_privacy():
    private = AgentConfig(privacy=Privacy(delete_audio=True))
    call = with_call_settings(private, {"settings": {"recording_enabled": True}})
    assert call.privacy.delete_audio is True
