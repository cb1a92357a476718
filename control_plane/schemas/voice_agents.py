"""Bodies of the voice-agents API, derived from the agent contract (`agent.contract`).

`VoiceAgentCreate` is the contract with `name` and `voice_id` required; `VoiceAgentUpdate` is
its partial form, made from it field by field (every field optional, nested settings partial
and merged with the stored ones); `VoiceAgentPublic` is the contract with the row's identity.
No field, bound or default is written here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from types import NoneType, UnionType
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    TypeAlias,
    Union,
    get_args,
    get_origin,
)

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    computed_field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema

from agent.contract import (
    DEFAULT_MODEL_ID,
    AgentConfig,
    CustomResponses,
    KnowledgeSettings,
    Name,
    Privacy,
    ToolSettings,
    TurnDetection,
    VoiceId,
)

from ..tool_secrets import mask_tools

__all__ = [
    "DEFAULT_MODEL_ID",
    "InvalidSettingsError",
    "VoiceAgentCreate",
    "VoiceAgentPublic",
    "VoiceAgentUpdate",
]

NESTED_SETTINGS: dict[str, type[BaseModel]] = {
    "turn_detection": TurnDetection,
    "privacy": Privacy,
    "custom_responses": CustomResponses,
    "knowledge": KnowledgeSettings,
    "tool_settings": ToolSettings,
}
"""Settings objects that an update changes key by key."""


VoiceType = Literal["male", "female"]


def _greeting_as_first_message(data: Any) -> Any:
    """Seed 004's `custom_responses.greeting` is the agent's first message."""
    if not isinstance(data, dict) or not isinstance(data.get("custom_responses"), dict):
        return data
    responses = dict(data["custom_responses"])
    if "greeting" not in responses:
        return data
    greeting = responses.pop("greeting")
    data = {**data, "custom_responses": responses}
    if not responses:
        del data["custom_responses"]
    if "first_message" not in data:
        data["first_message"] = greeting
    return data


class VoiceAgentCreate(AgentConfig):
    """`POST /voice-agents`: the agent contract; fields left out take their defaults.

    Seed 004's body is accepted as it is: `custom_responses.greeting` is the first message,
    `voice_type` (`male` / `female`) picks a voice of that gender for the agent's language
    when no `voice_id` is given, and such a body creates an active agent unless it says
    `active`."""

    name: Name
    voice_id: VoiceId | SkipJsonSchema[None] = None  # type: ignore[assignment]
    """Left out: a voice of `voice_type`, else the default local voice."""
    voice_type: VoiceType | None = Field(default=None, exclude=True)
    """Seed 004: the voice's gender, used when no `voice_id` is given (not stored)."""

    _greeting = model_validator(mode="before")(_greeting_as_first_message)

    @model_validator(mode="before")
    @classmethod
    def _seed_004_active(cls, data: Any) -> Any:
        if isinstance(data, dict) and "active" not in data and _in_seed_004_dialect(data):
            return {**data, "active": True}
        return data

    def values(self) -> dict[str, Any]:
        """The stored agent's column values."""
        values = self.model_dump(mode="json")
        if values["voice_id"] is None:
            values.update(_voice_of(self.voice_type, self.language))
        return values


def _in_seed_004_dialect(data: dict[str, Any]) -> bool:
    responses = data.get("custom_responses")
    return "voice_type" in data or (isinstance(responses, dict) and "greeting" in responses)


def _voice_of(voice_type: str | None, language: str | None) -> dict[str, Any]:
    """`voice_id` and `voice_name` of a voice of `voice_type` (the default voice without)."""
    from ..voices.catalog import voice_of_type

    voice = voice_of_type(voice_type, language) if voice_type else None
    if voice is None:
        return {"voice_id": AgentConfig().voice_id}
    return {"voice_id": voice.voice_id, "voice_name": voice.name}


class _Partial(BaseModel):
    """A partial object: fields left out keep their stored value; null is refused except for
    fields whose value may be null."""

    model_config = ConfigDict(extra="forbid", strict=True)
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nulls(self) -> _Partial:
        for field in sorted(self.model_fields_set - self.NULLABLE):
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


_SkippedNull: TypeAlias = SkipJsonSchema[None]
"""A null that an optional field accepts but its JSON schema does not show."""


def _nullable(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, UnionType) and NoneType in get_args(annotation)


def _optional(info: FieldInfo, annotation: Any | None = None) -> tuple[Any, FieldInfo]:
    """A contract field, optional (default None) with its bounds and schema kept; a null is
    left out of the schema unless the field's value may be null."""
    kind = annotation or (
        Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    )
    field = FieldInfo.from_field(None, json_schema_extra=info.json_schema_extra)
    if annotation is None and _nullable(info.annotation):
        return (info.annotation, field)
    return (kind | _SkippedNull, field)


def partial(model: type[BaseModel], name: str, *, extra: str = "forbid", **nested: Any) -> type:
    """`model` with every field optional (`nested` replaces some fields' types)."""
    fields = {
        field: _optional(info, nested.get(field)) for field, info in model.model_fields.items()
    }
    nullable = frozenset(f for f, info in model.model_fields.items() if _nullable(info.annotation))
    made = create_model(  # type: ignore[call-overload]
        name,
        __base__=_Partial,
        __doc__=f"A partial `{model.__name__}`.",
        **fields,
    )
    made.model_config["extra"] = extra
    made.NULLABLE = nullable
    made.model_rebuild(force=True)
    return made


PATCHES: dict[str, type[BaseModel]] = {
    field: partial(model, f"{model.__name__}Patch") for field, model in NESTED_SETTINGS.items()
}
"""The partial form of each nested setting."""

_Update = partial(AgentConfig, "_Update", extra="ignore", **PATCHES)


class VoiceAgentUpdate(_Update):  # type: ignore[misc, valid-type]
    """`PUT /voice-agents/{id}`: a partial update; fields left out keep their value.
    Seed 004's `custom_responses.greeting` and `voice_type` are taken as on create."""

    voice_type: VoiceType | _SkippedNull = Field(default=None, exclude=True)

    _greeting = model_validator(mode="before")(_greeting_as_first_message)

    def changes(self, stored: dict[str, dict]) -> dict[str, object]:
        """The fields the request set, as column values; nested settings are merged with the
        `stored` ones (`turn_detection`, `privacy`, `custom_responses`) and checked whole."""
        changes = self.model_dump(mode="json", exclude_unset=True)
        if self.voice_type is not None and "voice_id" not in changes:
            changes.update(_voice_of(self.voice_type, self.language))
        for field, model in NESTED_SETTINGS.items():
            if field in changes:
                merged = {**(stored.get(field) or {}), **changes[field]}
                changes[field] = _checked(model, field, merged)
        return changes


class InvalidSettingsError(ValueError):
    """Merged nested settings that are invalid together; the message names the field."""


def _checked(model: type[BaseModel], field: str, value: dict) -> dict:
    try:
        return model.model_validate(value).model_dump(mode="json")
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise InvalidSettingsError(f"{field}: {reasons}") from None


class VoiceAgentPublic(AgentConfig):
    """A voice agent as the API returns it."""

    model_config = ConfigDict(
        from_attributes=True, strict=False, json_schema_serialization_defaults_required=True
    )

    id: uuid.UUID
    company_id: uuid.UUID
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def agent_id(self) -> uuid.UUID:
        """The same as `id` (seed 004's name for it)."""
        return self.id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["active", "inactive"]:
        """`active` when the agent takes calls (seed 004 and seed 001 name it so)."""
        return "active" if self.active else "inactive"

    @field_validator("tools", mode="before")
    @classmethod
    def _masked(cls, tools: object) -> object:
        """HTTP tools' header values are secrets: never shown."""
        return mask_tools(tools)
