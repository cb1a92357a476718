"""Field types of the API's own bodies (the agent's are in `agent.contract`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from agent.contract import NO_NUL_SCHEMA, NoNul, whole_number

Provider = Literal["elevenlabs", "openai"]
Comments = Annotated[str, Field(max_length=2000, json_schema_extra=NO_NUL_SCHEMA), NoNul]
Outcome = Annotated[str, Field(min_length=1, max_length=64, json_schema_extra=NO_NUL_SCHEMA), NoNul]
Rating = Annotated[int, Field(ge=1, le=5), BeforeValidator(whole_number)]
