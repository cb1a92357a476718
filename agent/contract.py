"""The agent contract: every field of an agent, with its bounds, default and meaning, written
once.

The API's bodies (`control_plane.schemas.voice_agents`: create, partial update, public), the
store's rows and the worker's calls all derive from `AgentConfig`; a call runs exactly what the
API accepted. It imports nothing of the product but shared utilities, so every layer may use
it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from shared.audio import DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMATS

LOCAL_VOICE_PREFIX = "local:"
"""A voice of this machine: `local:<piper voice>`."""
LOCAL_LLM = "local"
"""`llm_model` of the embedded model."""
DEFAULT_VOICE_ID = "local:en_US-joe-medium"
DEFAULT_MODEL_ID = "eleven_turbo_v2_5"
DEFAULT_FIRST_MESSAGE = "Hello! How can I help you today?"
DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly voice assistant on a phone call. Answer in one or two short, "
    "plain sentences. Do not use lists, markdown or emojis."
)


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; no field has a use for it.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def whole_number(value: object) -> object:
    """JSON has one number type: `30.0` is a valid integer, `30.5` and `"30"` are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


NoNul = AfterValidator(_no_nul)
NO_NUL_SCHEMA = {"pattern": "^[^\\x00]*$"}
"""The same rule in the OpenAPI document (the validator gives the clearer message)."""
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
VoiceSpeed = Annotated[float, Field(ge=50.0, le=200.0)]
"""Speech speed percentage (100 = the voice's natural pace)."""
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=16)]
Name = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra=NO_NUL_SCHEMA), NoNul]
ShortText = Annotated[str, Field(max_length=200, json_schema_extra=NO_NUL_SCHEMA), NoNul]
LongText = Annotated[str, Field(max_length=20000, json_schema_extra=NO_NUL_SCHEMA), NoNul]
_LOCAL_VOICE = r"local:[A-Za-z0-9_.\-]+"
_CLOUD_VOICE = r"[A-Za-z0-9_\-]+"
VOICE_ID_PATTERN = rf"^({_LOCAL_VOICE}|(openai:)?{_CLOUD_VOICE})$"
"""A local voice (`local:<piper voice>`), an OpenAI voice (`openai:<name>`) or an ElevenLabs
voice id. Cloud ids go into the provider's URL: letters, digits, `_` and `-` only."""
LOCAL_OR_ELEVENLABS_VOICE_PATTERN = rf"^({_LOCAL_VOICE}|{_CLOUD_VOICE})$"
"""A voice the ElevenLabs speech route speaks: local, or ElevenLabs' own."""
VoiceId = Annotated[str, Field(min_length=1, max_length=200, pattern=VOICE_ID_PATTERN)]
BaseUrl = Annotated[str, Field(pattern=r"^https?://[\x21-\x7e]+$", max_length=500)]
OutputFormatName = Literal[tuple(OUTPUT_FORMATS)]  # type: ignore[valid-type]
SttProvider = Literal["local", "elevenlabs", "openai"]
Days = Annotated[int, Field(ge=1, le=3650), BeforeValidator(whole_number)]
MaxDuration = Annotated[float, Field(ge=10.0, le=86400.0)]
"""Seconds a call may last before the agent says its farewell and ends it."""
CompletionTokens = Annotated[int, Field(ge=1, le=4096), BeforeValidator(whole_number)]


class InvalidAgentConfigError(ValueError):
    """An agent configuration that breaks the contract; the message names the fields."""


class _Contract(BaseModel):
    """Strict (`"true"` is not a boolean, `"0.5"` is not a number) and immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TurnDetection(_Contract):
    """When the caller's turn ends, when the agent stops for the caller, what silence does."""

    mode: Literal["silence", "semantic"] = "silence"
    """`silence`: the turn ends after a pause detected by voice activity detection (the VAD
    hold, `min_silence_duration`). `semantic`: after a shorter pause
    (`semantic_silence_duration`) an end-of-turn model (Smart Turn v3.2, offline) reads the
    caller's last seconds of audio; a finished turn is answered after
    `min_endpointing_delay`, an unfinished one waits up to `max_endpointing_delay` for the
    caller to go on."""
    semantic_silence_duration: float = Field(default=0.3, ge=0.25, le=2.0)
    """`semantic`: the pause after which the model reads the turn (its prediction starts at
    0.2 s of silence)."""
    semantic_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    """`semantic`: the model's probability at or above which the turn is finished."""
    vad: Literal["webrtc", "silero"] = "silero"
    """The turn VAD: Silero (20 ms of CPU per second of audio; 1% of turns cut at a pause with
    a 0.6 s hold, coughs ignored) or WebRTC (3 ms; 7% at 0.6 s). benchmarks/RESULTS.md"""
    vad_aggressiveness: Annotated[int, BeforeValidator(whole_number)] = Field(default=2, ge=0, le=3)
    """WebRTC VAD: how readily audio counts as non-speech (0-3)."""
    vad_frame_ms: Literal[10, 20, 30] = 20
    """WebRTC VAD: frame length in milliseconds."""
    min_speech_duration: float = Field(default=0.1, ge=0.0, le=2.0)
    """Seconds of voiced audio before speech is declared started."""
    min_silence_duration: float = Field(default=0.6, ge=0.05, le=5.0)
    """The hold: seconds of silence that end the caller's speech (a shorter pause inside a
    sentence does not end the turn)."""
    stt_silence_duration: float = Field(default=0.15, ge=0.05, le=5.0)
    """Silence that closes a segment for speech recognition. Shorter than the hold, so the
    transcript of the turn's last words is usually ready by the time the hold ends the turn."""
    min_endpointing_delay: float = Field(default=0.05, ge=0.0, le=5.0)
    """Extra seconds waited after the hold before the agent answers."""
    max_endpointing_delay: float = Field(default=3.0, ge=0.0, le=30.0)
    """`semantic`: how long an unfinished turn waits for the caller to go on."""
    allow_interruptions: bool = True
    """Whether the caller can cut the agent off by speaking."""
    min_interruption_duration: float = Field(default=0.06, ge=0.0, le=5.0)
    """Seconds of caller speech over the agent that pause it; shorter sounds are ignored. The
    pause becomes a stop once words follow. Below the VAD's own start of speech (Silero: two
    32 ms windows it scores as speech; WebRTC: `min_speech_duration`) the agent pauses as soon
    as the VAD declares speech: 0.06 s (benchmarks/RESULTS.md, turn-taking)."""
    duck_duration: float = Field(default=0.5, ge=0.0, le=2.0)
    """When the caller's speech would pause the agent, the agent goes on 20 dB quieter for
    this long instead, and pauses only if the caller is still speaking then: a backchannel
    ("yeah", a cough) is over by then and the reply comes back to full volume without a gap;
    a barge-in hears the agent back off as soon as a pause would have silenced it, and quiet
    0.4-0.7 s after its onset. 0: pause at once (benchmarks/RESULTS.md, turn-taking)."""
    false_interruption_timeout: float = Field(default=1.0, ge=0.1, le=10.0)
    """An interruption followed by this much silence without words was false: the agent
    resumes where it stopped."""
    greeting_protection: float = Field(default=1.0, ge=0.0, le=30.0)
    """Seconds at the start of the greeting that nothing interrupts (line noise on pickup)."""
    timeout: float = Field(default=7.0, gt=0.0, le=600.0)
    """Seconds of caller silence after the agent's turn before the agent reprompts."""
    end_call_on_silence: float = Field(default=60.0, gt=0.0, le=3600.0)
    """Seconds of caller silence after which the agent says its farewell and ends the call
    (no reprompt when this is shorter than `timeout`)."""


class Privacy(_Contract):
    """What is kept of each call."""

    retention_days: Days | None = None
    """Conversations older than this are deleted; null keeps them."""
    zero_retention: bool = False
    """Keep only metrics and status, no transcript or audio."""
    delete_audio: bool = False
    """Keep no recording."""


class CustomResponses(_Contract):
    """Fixed lines the agent says; null: a default line in the agent's language."""

    farewell: LongText | None = None
    """Said before the agent ends the call (silence, maximum duration)."""
    reprompt: LongText | None = None
    """Said after `turn_detection.timeout` seconds of caller silence (e.g. "Are you still
    there?")."""


class KnowledgeSettings(_Contract):
    """How the agent answers from its knowledge base (the items added to it through
    `/v1/api/knowledge-base`)."""

    top_k: Annotated[int, BeforeValidator(whole_number)] = Field(default=3, ge=1, le=10)
    """Passages at most put before the model each turn."""
    min_score: float = Field(default=0.82, ge=0.0, le=1.0)
    """Cosine similarity a passage needs to count as relevant. The packaged multilingual-e5
    scores unrelated text 0.70-0.80 and an answering passage 0.83 or more; with another model,
    tune it with `POST /v1/api/knowledge-base/search`."""
    score_margin: float = Field(default=0.02, ge=0.0, le=1.0)
    """Passages scoring more than this below the best one are left out: each passage put
    before the model lengthens the prompt it reads before answering. On the knowledge QA set
    0.02 keeps the answering passage as often as taking all `top_k` (94% of questions) with
    1.9 passages instead of 2.6."""
    cross_language_allowance: float = Field(default=0.03, ge=0.0, le=0.2)
    """How much less similarity a passage in another script than the question needs (an
    English passage answering an Arabic question): the packaged model scores an answer in
    another language ~0.06 lower than one in the question's own. On the knowledge QA set 0.03
    answers 12-14 more of its 31 cross-language questions and still keeps 14-15 of 16
    off-topic ones out."""
    embedding_model: Name = "local"
    """`local` (the packaged multilingual-e5-small) or a model of `embedding_base_url`.
    Items are embedded when they are added: after changing it, add them again (passages of
    another model are not searched)."""
    embedding_base_url: BaseUrl | None = None
    """Any OpenAI-compatible embeddings endpoint; null: OpenAI (unless the model is
    `local`)."""


ToolName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")]
"""A tool's name as the model calls it (OpenAI's rule: letters, digits, `_`, `-`, 64 at most)."""
ToolDescription = Annotated[
    str, Field(min_length=1, max_length=1000, json_schema_extra=NO_NUL_SCHEMA), NoNul
]
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _parameters_schema(value: dict[str, Any]) -> dict[str, Any]:
    """A tool's parameters: a JSON Schema of an object (checked as a schema)."""
    if value.get("type") != "object":
        raise ValueError('must be a JSON Schema with "type": "object"')
    return _valid_schema(value)


def _valid_schema(value: dict[str, Any]) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"is not a valid JSON Schema: {exc.message}") from None
    return value


class HttpTool(_Contract):
    """A tool the agent calls by HTTP: the model fills `parameters`, the request carries them
    (the query string for GET and DELETE, a JSON body otherwise); the answer's body is the
    result the model reads."""

    type: Literal["http"] = "http"
    name: ToolName
    description: ToolDescription
    """What it does and when to use it: the model reads this to decide."""
    parameters: Annotated[dict[str, Any], AfterValidator(_parameters_schema)] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    url: BaseUrl
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=20
    )
    """Sent with each request (an `Authorization` key...): stored encrypted, shown masked."""
    timeout: float = Field(default=10.0, gt=0.0, le=60.0)
    """Seconds before the call counts as failed (the agent tells the caller)."""


class BuiltinTool(_Contract):
    """A tool the runtime provides: `end_call` (the agent says goodbye and hangs up),
    `transfer_call` (hands the caller to `transfer_to`, a phone number or a person, and
    emits `agent.handoff`), `search_knowledge` (the model searches the knowledge base)."""

    type: Literal["end_call", "transfer_call", "search_knowledge"]
    description: ToolDescription | None = None
    """Replaces the built-in description (when to use it, in the agent's words)."""
    transfer_to: ShortText | None = None
    """`transfer_call`: the number (E.164) or the person the caller is handed to."""


Tool = Annotated[HttpTool | BuiltinTool, Field(discriminator="type")]


class ToolSettings(_Contract):
    """How tool calls sound on a call."""

    filler: LongText | None = None
    """Said when a tool has not answered after `filler_after` seconds; null: a default line
    in the agent's language ("One moment, please.")."""
    filler_after: float = Field(default=1.0, ge=0.0, le=30.0)


FieldName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


def _field_schema(value: dict[str, Any]) -> dict[str, Any]:
    """One collected field: a JSON Schema of a single value (checked as a schema)."""
    if value.get("type") not in ("string", "integer", "number", "boolean"):
        raise ValueError('must be a JSON Schema with "type" string, integer, number or boolean')
    return _valid_schema(value)


class Criterion(_Contract):
    """A yes/no question about the conversation, answered after it with the evidence."""

    id: FieldName
    description: Annotated[str, Field(min_length=1, max_length=1000), NoNul]
    """The question, as a person reviewing the call would be asked it."""


class AnalysisSettings(_Contract):
    """What is worked out from each conversation after it ends (summary, sentiment, intents,
    resolution, the data collected, the success criteria)."""

    enabled: bool = True
    data_collection: Annotated[
        dict[FieldName, Annotated[dict[str, Any], AfterValidator(_field_schema)]],
        Field(max_length=32),
    ] = Field(default_factory=dict)
    """Fields taken from the transcript, each a JSON Schema of one value with a
    `description` (e.g. `{"party_size": {"type": "integer", "description": "people in the
    booking"}}`); a value the caller did not give is left out."""
    success_criteria: list[Criterion] = Field(default_factory=list, max_length=16)
    """Yes/no questions answered from the transcript (with the evidence)."""
    intents: list[FieldName] = Field(default_factory=list, max_length=32)
    """The intents a conversation is labelled with (at most three each); empty: the model
    names them in a word or two."""

    @model_validator(mode="after")
    def _unique_criteria(self) -> AnalysisSettings:
        ids = [c.id for c in self.success_criteria]
        if len(ids) != len(set(ids)):
            raise ValueError("success_criteria ids must be unique")
        return self


class AgentConfig(_Contract):
    """Everything an agent is: its voice, its model and prompt, its turn-taking, what is kept,
    what it knows and the tools it may use.

    Unknown top-level fields are ignored (clients of other platforms send their own); unknown
    fields inside a nested setting are refused (a misspelt `turn_detection` key is a mistake).
    """

    model_config = ConfigDict(extra="ignore")

    name: Name = "Assistant"
    description: LongText | None = None
    industry: ShortText | None = None
    """The business the agent serves (e.g. `restaurant`); a label to filter agents by."""
    personality: ShortText | None = None
    """How the agent comes across (e.g. `professional`, `friendly`): added to its
    instructions."""
    voice_id: VoiceId = DEFAULT_VOICE_ID
    """`local:<piper voice>`, `openai:<voice>` or an ElevenLabs voice id."""
    voice_name: ShortText | None = None
    language: Language = "en"
    model_id: Name = DEFAULT_MODEL_ID
    """Cloud speech model (ElevenLabs; an `openai:` voice uses an OpenAI speech model)."""
    active: bool = False
    """Whether the agent takes calls."""
    temperature: Unit = 0.7
    voice_speed: VoiceSpeed = 100.0
    voice_stability: Unit = 0.5
    voice_similarity_boost: Unit = 0.5
    voice_style: Unit = 0.0
    voice_pitch: Literal["low", "medium", "high"] = "medium"
    """Local voices only (cloud voices keep their own pitch)."""
    output_format: OutputFormatName = DEFAULT_OUTPUT_FORMAT  # type: ignore[valid-type]
    main_agent_id: ShortText | None = None
    first_message: LongText = DEFAULT_FIRST_MESSAGE
    """The greeting; empty: the agent waits for the caller."""
    system_prompt: LongText = DEFAULT_SYSTEM_PROMPT
    llm_model: Name = LOCAL_LLM
    """`local` (the embedded model) or a model of the OpenAI-compatible endpoint."""
    llm_base_url: BaseUrl | None = None
    """Any OpenAI-compatible endpoint for `llm_model`; null: OpenAI (or the embedded model
    when `llm_model` is `local`)."""
    max_completion_tokens: CompletionTokens = 80
    """Longest answer, in tokens (a spoken answer is short)."""
    stt_provider: SttProvider = "local"
    stt_model: ShortText | None = None
    """Model of the cloud STT provider; null: the provider's default."""
    turn_detection: TurnDetection = TurnDetection()
    privacy: Privacy = Privacy()
    custom_responses: CustomResponses = CustomResponses()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    tools: list[Tool] = Field(default_factory=list, max_length=32)
    """HTTP and built-in tools the model may call (`assigned_tools` adds MCP servers')."""
    tool_settings: ToolSettings = ToolSettings()
    assigned_tools: list[ToolName] = Field(default_factory=list, max_length=64)
    """Tools of the company's MCP servers the agent may call, by name
    (`POST /v1/api/agents/{id}/assign-tools`)."""
    max_duration_seconds: MaxDuration = 1800.0

    @classmethod
    def from_metadata(cls, metadata: str | None) -> AgentConfig:
        """The config a dispatch carries inline (`{"agent": {...}}`); empty: the defaults."""
        if not metadata or not metadata.strip():
            return cls()
        try:
            payload = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise InvalidAgentConfigError(f"job metadata is not JSON: {exc.msg}") from exc
        if not isinstance(payload, dict):
            raise InvalidAgentConfigError("job metadata must be a JSON object")
        agent = payload.get("agent")
        if agent is None:
            return cls()
        if not isinstance(agent, dict):
            raise InvalidAgentConfigError(
                f"invalid agent config in job metadata: agent must be an object, "
                f"not {type(agent).__name__}"
            )
        try:
            return cls.model_validate_json(json.dumps(agent))
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "agent" for e in exc.errors())
            raise InvalidAgentConfigError(
                f"invalid agent config in job metadata: {fields}"
            ) from exc

    def to_metadata(self) -> str:
        """Serialise as dispatch metadata."""
        return json.dumps({"agent": self.model_dump(mode="json")})
