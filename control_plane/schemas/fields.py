"""Field types shared by the API's bodies: bounds and patterns written once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from shared.audio import OUTPUT_FORMATS

OutputFormatName = Literal[tuple(OUTPUT_FORMATS)]  # type: ignore[valid-type]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; no field has a use for it.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)


NO_NUL_SCHEMA = {"pattern": "^[^\\x00]*$"}
"""The same rule in the OpenAPI document (the validator gives the clearer message)."""


Unit = Annotated[float, Field(ge=0.0, le=1.0)]


VoiceSpeed = Annotated[float, Field(ge=50.0, le=200.0)]
"""Speech speed percentage (100 = the voice's natural pace)."""


Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=16)]


Name = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra=NO_NUL_SCHEMA), NoNul]


ShortText = Annotated[str, Field(max_length=200, json_schema_extra=NO_NUL_SCHEMA), NoNul]


VOICE_ID_PATTERN = r"^(local:[A-Za-z0-9_.\-]+|(openai:)?[A-Za-z0-9_\-]+)$"
"""A local voice (`local:<piper voice>`), an OpenAI voice (`openai:<name>`) or an ElevenLabs
voice id. Cloud ids go into the provider's URL: letters, digits, `_` and `-` only."""


VoiceId = Annotated[str, Field(min_length=1, max_length=200, pattern=VOICE_ID_PATTERN)]


LongText = Annotated[str, Field(max_length=20000, json_schema_extra=NO_NUL_SCHEMA), NoNul]


BaseUrl = Annotated[str, Field(pattern=r"^https?://[\x21-\x7e]+$", max_length=500)]


SttProvider = Literal["local", "elevenlabs", "openai"]


Provider = Literal["elevenlabs", "openai"]


def whole_number(value: object) -> object:
    """JSON has one number type: `30.0` is a valid integer, `30.5` and `"30"` are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Days = Annotated[int, Field(ge=1, le=3650), BeforeValidator(whole_number)]


MaxDuration = Annotated[float, Field(ge=10.0, le=86400.0)]
"""Seconds a call may last before the agent says its farewell and ends it."""


Comments = Annotated[str, Field(max_length=2000, json_schema_extra=NO_NUL_SCHEMA), NoNul]


Outcome = Annotated[str, Field(min_length=1, max_length=64, json_schema_extra=NO_NUL_SCHEMA), NoNul]


Rating = Annotated[int, Field(ge=1, le=5), BeforeValidator(whole_number)]
