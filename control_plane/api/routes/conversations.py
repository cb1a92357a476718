"""`POST /conversations`: start a call with a voice agent."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException
from livekit import api
from pydantic import BaseModel, ConfigDict, Field

from ...schemas import Language
from ...store.models import utcnow
from ..deps import CompanyDep, SessionDep, SettingsDep
from ..errors import error_responses
from .voice_agents import find_agent

router = APIRouter(prefix="/conversations", tags=["conversations"])


class ConversationStart(BaseModel):
    """`POST /conversations`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    agent_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@:+\-]+$")
    language: Language | None = None
    initial_context: dict[str, Any] = Field(default_factory=dict)


class ConnectionDetails(BaseModel):
    websocket_url: str
    """The LiveKit server URL to join with `token`."""
    token: str
    """A LiveKit access token for `room_name`; joining it brings the agent into the room."""
    room_name: str
    participant_identity: str


class ConversationStarted(BaseModel):
    conversation_id: str
    agent_id: uuid.UUID
    status: str
    created_at: datetime
    connection_details: ConnectionDetails


MAX_CONTEXT_BYTES = 8192


@router.post("", status_code=201, responses=error_responses(400, 401, 404, 409, 429))
async def start_conversation(
    body: ConversationStart, session: SessionDep, settings: SettingsDep, company_id: CompanyDep
) -> ConversationStarted:
    """Start a call: returns a LiveKit URL and a participant token. The agent is dispatched
    into the room when the caller joins with that token."""
    agent = await find_agent(session, company_id, body.agent_id)
    if not agent.active:
        raise HTTPException(409, "Voice agent is not active: set active to true to take calls")
    if len(json.dumps(body.initial_context)) > MAX_CONTEXT_BYTES:
        raise HTTPException(400, f"initial_context: at most {MAX_CONTEXT_BYTES} bytes of JSON")
    conversation_id = f"conv_{uuid.uuid4().hex}"
    metadata = {
        "agent_id": str(agent.id),
        "agent_version": agent.updated_at.isoformat(),
        "company_id": str(company_id),
        "conversation_id": conversation_id,
        "user_id": body.user_id,
        "language": body.language or agent.language,
        "initial_context": body.initial_context,
    }
    token = (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
        .with_identity(body.user_id)
        .with_name(body.user_id)
        .with_ttl(timedelta(seconds=settings.call_token_ttl_seconds))
        .with_grants(api.VideoGrants(room_join=True, room=conversation_id))
        .with_room_config(
            api.RoomConfiguration(
                name=conversation_id,
                empty_timeout=60,
                departure_timeout=5,
                agents=[
                    api.RoomAgentDispatch(
                        agent_name=settings.agent_name, metadata=json.dumps(metadata)
                    )
                ],
            )
        )
        .to_jwt()
    )
    return ConversationStarted(
        conversation_id=conversation_id,
        agent_id=agent.id,
        status="active",
        created_at=utcnow(),
        connection_details=ConnectionDetails(
            websocket_url=settings.livekit_url,
            token=token,
            room_name=conversation_id,
            participant_identity=body.user_id,
        ),
    )
