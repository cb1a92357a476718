"""Seed 002's voice making: the design flow, cloning, previews."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.contract import NO_NUL_SCHEMA, Language, NoNul

Gender = Literal["male", "female", "neutral"]
Text = Annotated[str, Field(min_length=1, max_length=1000, json_schema_extra=NO_NUL_SCHEMA), NoNul]
Name = Annotated[str, Field(min_length=1, max_length=100, json_schema_extra=NO_NUL_SCHEMA), NoNul]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class ScriptRequest(_Body):
    language: Language | None = None


class ScriptResponse(BaseModel):
    voice_sample: str


class DescriptionRequest(_Body):
    gender: Gender
    voice_description: Text | None = None
    language: Language | None = None
    script: Text | None = None


class DescriptionResponse(BaseModel):
    voice_description: str


class SamplesRequest(_Body):
    text: Annotated[
        str, Field(min_length=100, max_length=1000, json_schema_extra=NO_NUL_SCHEMA), NoNul
    ]
    """What the candidates say (ElevenLabs asks for 100 to 1000 characters): step 1's script."""
    description: Annotated[
        str, Field(min_length=20, max_length=1000, json_schema_extra=NO_NUL_SCHEMA), NoNul
    ]
    """The voice to make (20 to 1000 characters): step 2's description."""


class Sample(BaseModel):
    generation_id: str
    audio: str
    """Base64 audio of the candidate saying the text."""
    media_type: str


class SamplesResponse(BaseModel):
    samples: list[Sample]


class DesignRequest(_Body):
    generation_id: Annotated[str, Field(min_length=1, max_length=200)]
    name: Name
    gender: Gender | None = None
    language: Language | None = None
    description: Text | None = None


class CloneRequest(_Body):
    name: Name
    audio_url: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    audio_base64: Annotated[str, Field(min_length=1)] | None = None
    gender: Gender | None = None
    language: Language | None = None
    description: Text | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CloneRequest:
        if (self.audio_url is None) == (self.audio_base64 is None):
            raise ValueError("provide exactly one of audio_url and audio_base64")
        return self


class OwnVoice(BaseModel):
    """A voice the company made."""

    model_config = ConfigDict(from_attributes=True)

    voice_id: str
    name: str
    source: Literal["user_designed", "user_trained"]
    provider: str
    gender: str | None
    language: str | None
    description: str | None
    preview_url: str | None = None
    created_at: datetime


class PreviewRequest(_Body):
    text: Annotated[
        str, Field(min_length=1, max_length=1000, json_schema_extra=NO_NUL_SCHEMA), NoNul
    ]


class PreviewStarted(BaseModel):
    user_job_id: int


class OutputResource(BaseModel):
    id: int
    type: Literal["audio"] = "audio"
    file_url: str


class PreviewJob(BaseModel):
    id: int
    status: Literal["pending", "processing", "completed", "failed"]
    voice_id: str
    text: str
    error: str | None
    output_resources: list[OutputResource]
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime
