"""Request and response bodies of the voice-agents API (`<Entity>Create / Update / Public`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from pipelines.config import DEFAULT_MAX_DURATION, DEFAULT_SYSTEM_PROMPT, TurnDetection
from shared.audio import DEFAULT_OUTPUT_FORMAT

from .fields import (
    BaseUrl,
    Days,
    Language,
    LongText,
    MaxDuration,
    Name,
    OutputFormatName,
    ShortText,
    SttProvider,
    Unit,
    VoiceId,
    VoiceSpeed,
)

_TD = TurnDetection()


DEFAULT_MODEL_ID = "eleven_turbo_v2_5"
DEFAULT_FIRST_MESSAGE = "Hello! How can I help you today?"
DEFAULT_LLM_MODEL = "local"


class TurnDetectionSettings(BaseModel):
    """When the caller's turn ends and what silence does."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["silence"] = "silence"
    """`silence`: the turn ends after a pause detected by voice activity detection."""
    timeout: float = Field(default=7.0, gt=0.0, le=600.0)
    """Seconds of caller silence after the agent's turn before the agent reprompts."""
    end_call_on_silence: float = Field(default=60.0, gt=0.0, le=3600.0)
    """Seconds of caller silence after which the agent says goodbye and ends the call (no
    reprompt when this is shorter than `timeout`)."""
    vad: Literal["webrtc", "silero"] = _TD.vad
    """Voice activity detector: `webrtc` (lightest) or `silero` (fewer turns cut at a pause,
    ~7x the CPU); see benchmarks/RESULTS.md."""
    min_silence_duration: float = Field(default=_TD.min_silence_duration, ge=0.05, le=5.0)
    """The hold: seconds of silence that end the caller's speech (a shorter pause inside a
    sentence does not end the turn)."""
    min_endpointing_delay: float = Field(default=_TD.min_endpointing_delay, ge=0.0, le=5.0)
    """Extra seconds waited after the hold before the agent answers."""
    max_endpointing_delay: float = Field(default=_TD.max_endpointing_delay, ge=0.0, le=30.0)
    allow_interruptions: bool = True
    """Whether the caller can cut the agent off by speaking."""
    min_interruption_duration: float = Field(default=_TD.min_interruption_duration, ge=0.0, le=5.0)
    """Seconds of caller speech that stop the agent: shorter sounds do not, and the agent
    resumes after a false interruption. Below the VAD's own start of speech, the agent pauses
    when the VAD declares speech (Silero does not for a cough)."""
    greeting_protection: float = Field(default=_TD.greeting_protection, ge=0.0, le=30.0)
    """Seconds at the start of the greeting that nothing interrupts (line noise on pickup)."""


class PrivacySettings(BaseModel):
    """What is kept of each call."""

    model_config = ConfigDict(extra="forbid", strict=True)

    retention_days: Days | None = None
    """Conversations older than this are deleted; null keeps them."""
    zero_retention: bool = False
    """Keep only metrics and status, no transcript or audio."""
    delete_audio: bool = False
    """Keep no recording."""


class _Patch(BaseModel):
    """A partial nested object: fields left out keep their stored value; null is refused
    except where `NULLABLE` allows it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    NULLABLE: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _no_nulls(self) -> _Patch:
        for field in self.model_fields_set - set(self.NULLABLE):
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class TurnDetectionPatch(_Patch):
    """A partial `turn_detection` for updates; merged with the stored value, then checked."""

    mode: Literal["silence"] | SkipJsonSchema[None] = None
    timeout: Annotated[float, Field(gt=0.0, le=600.0)] | SkipJsonSchema[None] = None
    end_call_on_silence: Annotated[float, Field(gt=0.0, le=3600.0)] | SkipJsonSchema[None] = None
    vad: Literal["webrtc", "silero"] | SkipJsonSchema[None] = None
    min_silence_duration: Annotated[float, Field(ge=0.05, le=5.0)] | SkipJsonSchema[None] = None
    min_endpointing_delay: Annotated[float, Field(ge=0.0, le=5.0)] | SkipJsonSchema[None] = None
    max_endpointing_delay: Annotated[float, Field(ge=0.0, le=30.0)] | SkipJsonSchema[None] = None
    allow_interruptions: bool | SkipJsonSchema[None] = None
    min_interruption_duration: Annotated[float, Field(ge=0.0, le=5.0)] | SkipJsonSchema[None] = None
    greeting_protection: Annotated[float, Field(ge=0.0, le=30.0)] | SkipJsonSchema[None] = None


class CustomResponses(BaseModel):
    """Fixed lines the agent says; null: a default line in the agent's language."""

    model_config = ConfigDict(extra="forbid", strict=True)

    farewell: LongText | None = None
    """Said before the agent ends the call (silence, maximum duration)."""
    reprompt: LongText | None = None
    """Said after `turn_detection.timeout` seconds of caller silence (e.g. "Are you still
    there?")."""


class CustomResponsesPatch(_Patch):
    NULLABLE = ("farewell", "reprompt")

    farewell: LongText | None = None
    reprompt: LongText | None = None


class PrivacyPatch(_Patch):
    """A partial `privacy` for updates."""

    NULLABLE = ("retention_days",)

    retention_days: Days | None = None
    """null: keep conversations."""
    zero_retention: bool | SkipJsonSchema[None] = None
    delete_audio: bool | SkipJsonSchema[None] = None


class VoiceAgentFields(BaseModel):
    """Optional fields shared by create and update. Types are strict: `"true"` is not a
    boolean and `"0.5"` is not a number."""

    model_config = ConfigDict(extra="ignore", strict=True)

    description: LongText | None = None
    voice_name: ShortText | None = None
    main_agent_id: ShortText | None = None
    llm_base_url: BaseUrl | None = None
    """Any OpenAI-compatible endpoint for `llm_model`; null: OpenAI (or the embedded model
    when `llm_model` is `local`)."""
    stt_model: ShortText | None = None
    """Model of the cloud STT provider; null: the provider's default."""


class VoiceAgentCreate(VoiceAgentFields):
    """`POST /voice-agents`."""

    name: Name
    voice_id: VoiceId
    language: Language = "en"
    model_id: Name = DEFAULT_MODEL_ID
    active: bool = False
    temperature: Unit = 0.7
    voice_speed: VoiceSpeed = 100.0
    voice_stability: Unit = 0.5
    voice_similarity_boost: Unit = 0.5
    voice_style: Unit = 0.0
    output_format: OutputFormatName = DEFAULT_OUTPUT_FORMAT  # type: ignore[valid-type]
    first_message: LongText = DEFAULT_FIRST_MESSAGE
    system_prompt: LongText = DEFAULT_SYSTEM_PROMPT
    llm_model: Name = DEFAULT_LLM_MODEL
    stt_provider: SttProvider = "local"
    turn_detection: TurnDetectionSettings = TurnDetectionSettings()
    privacy: PrivacySettings = PrivacySettings()
    custom_responses: CustomResponses = CustomResponses()
    max_duration_seconds: MaxDuration = DEFAULT_MAX_DURATION


class VoiceAgentUpdate(VoiceAgentFields):
    """`PUT /voice-agents/{id}`: a partial update; fields left out keep their value."""

    name: Name | SkipJsonSchema[None] = None
    voice_id: VoiceId | SkipJsonSchema[None] = None
    language: Language | SkipJsonSchema[None] = None
    model_id: Name | SkipJsonSchema[None] = None
    active: bool | SkipJsonSchema[None] = None
    temperature: Unit | SkipJsonSchema[None] = None
    voice_speed: VoiceSpeed | SkipJsonSchema[None] = None
    voice_stability: Unit | SkipJsonSchema[None] = None
    voice_similarity_boost: Unit | SkipJsonSchema[None] = None
    voice_style: Unit | SkipJsonSchema[None] = None
    output_format: OutputFormatName | SkipJsonSchema[None] = None  # type: ignore[valid-type]
    first_message: LongText | SkipJsonSchema[None] = None
    system_prompt: LongText | SkipJsonSchema[None] = None
    llm_model: Name | SkipJsonSchema[None] = None
    stt_provider: SttProvider | SkipJsonSchema[None] = None
    turn_detection: TurnDetectionPatch | SkipJsonSchema[None] = None
    privacy: PrivacyPatch | SkipJsonSchema[None] = None
    custom_responses: CustomResponsesPatch | SkipJsonSchema[None] = None
    max_duration_seconds: MaxDuration | SkipJsonSchema[None] = None

    NOT_NULL: ClassVar[tuple[str, ...]] = (
        "name", "voice_id", "language", "model_id", "active", "temperature", "voice_speed",
        "voice_stability", "voice_similarity_boost", "voice_style", "output_format",
        "first_message", "system_prompt", "llm_model", "stt_provider", "turn_detection",
        "privacy", "custom_responses", "max_duration_seconds",
    )  # fmt: skip

    @model_validator(mode="after")
    def _no_nulls(self) -> VoiceAgentUpdate:
        for field in self.NOT_NULL:
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self, stored: dict[str, dict]) -> dict[str, object]:
        """The fields the request set, as column values; nested settings are merged with the
        `stored` ones (`turn_detection`, `privacy`, `custom_responses`) and checked whole."""
        changes = self.model_dump(mode="json", exclude_unset=True)
        for field, model in NESTED_SETTINGS.items():
            if field in changes:
                merged = {**(stored.get(field) or {}), **changes[field]}
                changes[field] = _checked(model, field, merged)
        return changes


NESTED_SETTINGS: dict[str, type[BaseModel]] = {
    "turn_detection": TurnDetectionSettings,
    "privacy": PrivacySettings,
    "custom_responses": CustomResponses,
}


class InvalidSettingsError(ValueError):
    """Merged nested settings that are invalid together; the message names the field."""


def _checked(model: type[BaseModel], field: str, value: dict) -> dict:
    try:
        return model.model_validate(value).model_dump(mode="json")
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise InvalidSettingsError(f"{field}: {reasons}") from None


class VoiceAgentPublic(BaseModel):
    """A voice agent as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    voice_id: str
    voice_name: str | None
    language: str
    model_id: str
    active: bool
    temperature: float
    voice_speed: float
    voice_stability: float
    voice_similarity_boost: float
    voice_style: float
    output_format: str
    company_id: uuid.UUID
    main_agent_id: str | None
    first_message: str
    system_prompt: str
    llm_model: str
    llm_base_url: str | None
    stt_provider: str
    stt_model: str | None
    turn_detection: TurnDetectionSettings
    privacy: PrivacySettings
    custom_responses: CustomResponses
    max_duration_seconds: float
    created_at: datetime
    updated_at: datetime
