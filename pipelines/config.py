"""The agent configuration the pipelines are built from.

It travels in the dispatch metadata as JSON (`{"agent": {...}}`) until the store provides it.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import PipelineSetupError

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly voice assistant on a phone call. Answer in one or two short, "
    "plain sentences. Do not use lists, markdown or emojis."
)


DEFAULT_MAX_DURATION = 1800.0


class TurnDetection(BaseModel):
    """Turn-taking settings: VAD hold and endpointing, silence rules."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    vad: Literal["webrtc", "silero"] = "silero"
    """The turn VAD: Silero (20 ms of CPU per second of audio; 1% of turns cut at a pause
    with a 0.6 s hold, coughs ignored) or WebRTC (3 ms; 7% at 0.6 s). benchmarks/RESULTS.md"""
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    vad_frame_ms: int = Field(default=20)
    min_speech_duration: float = Field(default=0.1, ge=0.0, le=2.0)
    """Seconds of voiced audio before speech is declared started."""
    min_silence_duration: float = Field(default=0.6, ge=0.05, le=5.0)
    """Seconds of silence (the hold) before speech is declared ended."""
    stt_silence_duration: float = Field(default=0.15, ge=0.05, le=5.0)
    """Silence that closes an STT segment. Shorter than the hold, so the transcript of the
    turn's last words is usually ready by the time the hold ends the turn."""
    min_endpointing_delay: float = Field(default=0.05, ge=0.0, le=5.0)
    """Extra seconds the session waits after the VAD's end of speech before answering."""
    max_endpointing_delay: float = Field(default=3.0, ge=0.0, le=30.0)
    allow_interruptions: bool = True
    min_interruption_duration: float = Field(default=0.06, ge=0.0, le=5.0)
    """Seconds of caller speech over the agent that pause it; shorter sounds are ignored. The
    pause becomes a stop once words follow. Below the VAD's own start of speech (Silero: two
    32 ms windows it scores as speech; WebRTC: `min_speech_duration`) the agent pauses as soon
    as the VAD declares speech: 0.06 s (benchmarks/RESULTS.md, turn-taking)."""
    false_interruption_timeout: float = Field(default=1.0, ge=0.1, le=10.0)
    """An interruption followed by this much silence without words was false: the agent
    resumes where it stopped."""
    greeting_protection: float = Field(default=1.0, ge=0.0, le=30.0)
    """Seconds at the start of the greeting that nothing interrupts."""
    timeout: float = Field(default=7.0, gt=0.0, le=600.0)
    """Seconds of caller silence after the agent's turn before the agent reprompts."""
    end_call_on_silence: float = Field(default=60.0, gt=0.0, le=3600.0)
    """Seconds of caller silence after which the agent says its farewell and ends the call."""

    @field_validator("vad_frame_ms")
    @classmethod
    def _frame_size(cls, value: int) -> int:
        if value not in (10, 20, 30):
            raise ValueError("vad_frame_ms must be 10, 20 or 30")
        return value


class AgentConfig(BaseModel):
    """Everything a call needs to know about the agent it runs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = "Local assistant"
    first_message: str = "Hello! How can I help you today?"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    language: str = "en"
    temperature: float = Field(default=0.7, ge=0.0, le=1.0)
    llm_model: str = "local"
    """Model name sent to the OpenAI-compatible endpoint."""
    llm_base_url: str | None = None
    """OpenAI-compatible base URL; None means the worker's configured default."""
    max_completion_tokens: int = Field(default=80, ge=1, le=4096)
    voice_id: str = "local:en_US-joe-medium"
    voice_speed: float = Field(default=100.0, ge=25.0, le=400.0)
    """Speech speed percent; 100 is the voice's natural pace."""
    model_id: str = "eleven_turbo_v2_5"
    """Cloud TTS model (ElevenLabs; an `openai:` voice uses an OpenAI speech model)."""
    voice_stability: float = Field(default=0.5, ge=0.0, le=1.0)
    voice_similarity_boost: float = Field(default=0.75, ge=0.0, le=1.0)
    voice_style: float = Field(default=0.0, ge=0.0, le=1.0)
    output_format: str = "mp3_44100_128"
    stt_provider: Literal["local", "elevenlabs", "openai"] = "local"
    stt_model: str | None = None
    """Cloud STT model; None is the provider's default."""
    turn_detection: TurnDetection = TurnDetection()
    farewell: str | None = None
    """Said before the agent ends the call; None: a default line in `language`."""
    reprompt: str | None = None
    """Said after `turn_detection.timeout` of caller silence; None: a default line."""
    max_duration: float = Field(default=DEFAULT_MAX_DURATION, ge=1.0, le=86400.0)
    """Seconds a call may last before the agent says its farewell and ends it."""

    @classmethod
    def from_metadata(cls, metadata: str | None) -> AgentConfig:
        """Read the config from job metadata (`{"agent": {...}}`); empty means the default."""
        if not metadata or not metadata.strip():
            return cls()
        try:
            payload = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise PipelineSetupError(f"job metadata is not JSON: {exc.msg}") from exc
        if not isinstance(payload, dict):
            raise PipelineSetupError("job metadata must be a JSON object")
        agent = payload.get("agent")
        if agent is None:
            return cls()
        if not isinstance(agent, dict):
            raise PipelineSetupError(
                f"invalid agent config in job metadata: agent must be an object, "
                f"not {type(agent).__name__}"
            )
        try:
            return cls.model_validate(agent)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "agent" for e in exc.errors())
            raise PipelineSetupError(f"invalid agent config in job metadata: {fields}") from exc

    def to_metadata(self) -> str:
        """Serialise as dispatch metadata."""
        return json.dumps({"agent": self.model_dump(mode="json")})
