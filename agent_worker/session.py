"""A call's `AgentSession`: its pipeline, its turn-taking rules and how it hears the room."""

from __future__ import annotations

from livekit.agents import AgentSession, APIConnectOptions, room_io
from livekit.agents.voice.agent_session import SessionConnectOptions

from agent.contract import AgentConfig
from pipelines.cloud import attempt_options, is_fallback
from pipelines.factory import Engines, build_pipeline, interruption_min_duration
from pipelines.settings import ProviderCredentials
from pipelines.smart_turn import SmartTurnDetector

from .metrics import end_of_turn_predicted


def session_for(
    config: AgentConfig, engines: Engines, credentials: ProviderCredentials | None = None
) -> AgentSession:
    """An `AgentSession` with the pipeline and turn-taking rules of `config`."""
    parts = build_pipeline(config, engines, credentials)
    td = config.turn_detection
    cloud = engines.settings.cloud

    def attempt(part: object, voice: bool = False) -> APIConnectOptions:
        return attempt_options(cloud, cloud_first=is_fallback(part), voice=voice)

    return AgentSession(
        vad=parts.vad,
        stt=parts.stt,
        llm=parts.llm,
        tts=parts.tts,
        turn_handling={
            "turn_detection": (
                SmartTurnDetector(
                    engines.smart_turn(), td.semantic_threshold, end_of_turn_predicted
                )
                if td.mode == "semantic"
                else "vad"
            ),
            "endpointing": {
                "min_delay": td.min_endpointing_delay,
                "max_delay": td.max_endpointing_delay,
            },
            "interruption": {
                "enabled": td.allow_interruptions,
                "mode": "vad",
                "min_duration": interruption_min_duration(config),
                # A short sound that stopped the agent but brought no words: carry on.
                "resume_false_interruption": True,
                "false_interruption_timeout": td.false_interruption_timeout,
            },
            # Start the LLM on the transcript while endpointing is still deciding.
            "preemptive_generation": {
                "enabled": True,
                "preemptive_tts": engines.settings.reply.preemptive_tts,
            },
        },
        user_away_timeout=None,
        conn_options=SessionConnectOptions(
            stt_conn_options=attempt(parts.stt),
            llm_conn_options=attempt(parts.llm),
            tts_conn_options=attempt(parts.tts, voice=True),
        ),
    )


def room_options(frame_ms: int = 20) -> room_io.RoomOptions:
    """How the session hears the caller. The framework hands its VADs 50 ms frames at 24 kHz;
    ours get `frame_ms` (20 ms) frames at 16 kHz, the rate the VADs and Whisper work at: the
    caller's speech is seen up to 30 ms sooner (a barge-in stops the agent sooner), and no call
    resamples its input in Python (the SDK does it while decoding)."""
    return room_io.RoomOptions(
        close_on_disconnect=True,
        audio_input=room_io.AudioInputOptions(sample_rate=16000, frame_size_ms=frame_ms),
    )
