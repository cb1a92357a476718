"""Phone numbers, phone calls, transfers and the Twilio account, as the API shapes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

E164 = r"^\+[1-9][0-9]{6,14}$"
PHONE = Field(pattern=E164, description="E.164", examples=["+15550001111"])


class PhoneNumberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = PHONE
    agent_id: uuid.UUID | None = Field(default=None, description="The agent that answers it")
    label: str | None = Field(default=None, max_length=200)


class PhoneNumberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID | None = None
    label: str | None = Field(default=None, max_length=200)


class PhoneNumberOut(BaseModel):
    id: uuid.UUID
    number: str
    agent_id: uuid.UUID | None
    provider: str
    label: str | None
    created_at: datetime


class PhoneNumberList(BaseModel):
    phone_numbers: list[PhoneNumberOut]


class PhoneCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    agent_id: str = Field(max_length=64)
    to: str = PHONE
    from_: str | None = Field(
        default=None,
        alias="from",
        pattern=E164,
        description="One of the company's numbers; default: the agent's, else the first",
    )
    initial_context: dict[str, Any] = Field(default_factory=dict)


class PhoneCallPlaced(BaseModel):
    conversation_id: str
    call_id: str = Field(description="The provider's id of the call (Twilio's CallSid)")
    status: str = Field(examples=["initiated"])
    to: str
    direction: str = "outbound"


class MakeCallIn(BaseModel):
    """Seed 001's `POST /api/make-call`."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(max_length=64)
    phone_number: str = PHONE
    context: dict[str, Any] = Field(default_factory=dict)


class MakeCallOut(BaseModel):
    call_id: str
    status: str


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = PHONE
    reason: str | None = Field(default=None, max_length=500)


class TwilioAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", examples=["AC" + "0" * 32])
    auth_token: str = Field(min_length=16, max_length=128)


class TwilioStatus(BaseModel):
    connected: bool
    account_sid: str | None = None
    masked_auth_token: str | None = None


class TwilioCheck(BaseModel):
    valid: bool
    friendly_name: str | None = None
