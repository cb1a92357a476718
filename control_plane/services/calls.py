"""A call in LiveKit: the caller's token that brings the agent into the room; ending it (the
record first, then its callers disconnected, its room closed once the agent has left:
`shared.livekit_rooms`, a room deleted under the agent keeps its track in the worker)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from livekit import api
from sqlalchemy.ext.asyncio import AsyncSession

from shared.livekit_rooms import close_room_after_agent, is_agent, participants

from ..jobs.webhooks import enqueue_closed
from ..settings import Settings
from ..store.models import Conversation, VoiceAgent, utcnow
from .refusal import Refused

logger = logging.getLogger("control_plane.services.calls")

AGENT_LEAVE_TIMEOUT = 30.0
"""Seconds an ended call's room waits for the agent to leave before it is deleted anyway. An
agent finishing its call (the record, the recording) leaves ~2 s after its caller on an idle
machine, and several times later on a busy one; deleting the room under it would keep its track
for the life of the worker."""

DEPARTURE_TIMEOUT = 20
"""Seconds a call's room stays open after its caller left (LiveKit's default)."""


class LiveKitUnavailableError(Exception):
    """LiveKit could not be asked, or refused; the message says which."""


def livekit_api(settings: Settings) -> api.LiveKitAPI:
    return api.LiveKitAPI(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
    )


MAX_CONTEXT_BYTES = 8192
"""The largest `initial_context` a call may start with (JSON), on every way of starting one:
it travels in the room's dispatch metadata and in the caller's token."""


def check_context(context: dict[str, Any] | None, field: str = "initial_context") -> None:
    """400 naming `field` when a call's context is too large to carry."""
    if context and len(json.dumps(context)) > MAX_CONTEXT_BYTES:
        raise Refused(400, f"{field}: at most {MAX_CONTEXT_BYTES} bytes of JSON", field=field)


def dispatch_for(
    agent: VoiceAgent,
    *,
    conversation_id: str,
    user_id: str,
    language: str | None = None,
    context: dict[str, Any] | None = None,
    call_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The job metadata that brings `agent` into a call's room (what the worker reads in
    `agent_worker.agents.resolve_agent`)."""
    return {
        "agent_id": str(agent.id),
        "agent_version": agent.updated_at.isoformat(),
        "company_id": str(agent.company_id),
        "conversation_id": conversation_id,
        "user_id": user_id,
        "language": language or agent.language,
        "initial_context": context or {},
        "settings": call_settings or {},
    }


def caller_token(
    settings: Settings,
    *,
    room_name: str,
    identity: str,
    dispatch: dict[str, Any],
    phone_line: dict[str, str] | None = None,
) -> str:
    """A token for the caller to join the call's room; joining dispatches the agent into it
    with `dispatch` as its job's metadata. A phone line (`phone_line`: its attributes, the
    number and direction) joins as a SIP participant, as LiveKit's own telephony does (its
    keypad digits are relayed only from those), and may say how it left in its attributes."""
    token = (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
        .with_identity(identity)
        .with_name(identity)
        .with_ttl(timedelta(seconds=settings.call_token_ttl_seconds))
        .with_grants(
            api.VideoGrants(
                room_join=True, room=room_name, can_update_own_metadata=phone_line is not None
            )
        )
        .with_room_config(
            api.RoomConfiguration(
                name=room_name,
                empty_timeout=60,
                # After the caller leaves, the agent leaves too (its session closes, then the
                # job), ~2 s on an idle machine and longer on a busy one. A room that closes
                # under the agent keeps its track for the life of the worker
                # (livekit/rust-sdks#1443), so the room waits well beyond that.
                departure_timeout=DEPARTURE_TIMEOUT,
                agents=[
                    api.RoomAgentDispatch(
                        agent_name=settings.agent_name, metadata=json.dumps(dispatch)
                    )
                ],
            )
        )
    )
    if phone_line is not None:
        token = token.with_kind("sip").with_attributes(phone_line)
    return token.to_jwt()


async def request_end(
    session: AsyncSession,
    row: Conversation,
    *,
    outcome: str | None,
    feedback: dict[str, Any] | None,
) -> bool:
    """Record that an ongoing call is to end, before its caller is disconnected: the worker
    reads it to close the record as ended by the API rather than hung up. A call nobody joined
    yet is closed at once (and its webhooks told). Whether the call had been joined; the
    caller commits."""
    row.end_requested_at = row.end_requested_at or utcnow()
    row.outcome = outcome or row.outcome
    if feedback is not None:
        row.feedback = feedback
    joined = row.started_at is not None
    if not joined:
        row.status, row.end_reason, row.ended_at = "success", "ended_by_api", utcnow()
        await enqueue_closed(session, row)
    return joined


async def hang_up(settings: Settings, room_name: str) -> None:
    """Disconnect the call's callers; the agent then leaves by itself and `close_room`
    deletes the room."""
    try:
        async with livekit_api(settings) as lkapi:
            for person in await participants(lkapi, room_name):
                if is_agent(person):
                    continue
                try:
                    await lkapi.room.remove_participant(
                        api.RoomParticipantIdentity(room=room_name, identity=person.identity)
                    )
                except api.ServerError as exc:
                    if exc.code != api.ServerErrorCode.NOT_FOUND:  # gone meanwhile
                        raise
    except api.ServerError as exc:
        raise LiveKitUnavailableError(f"LiveKit could not end the call: {exc.message}") from None
    except Exception as exc:
        raise LiveKitUnavailableError(f"LiveKit is unreachable: {type(exc).__name__}") from None


async def close_room(settings: Settings, room_name: str) -> None:
    """Delete an ended call's room once its agent has left, so nobody can join it again.
    Runs after the response; failures are only logged."""
    try:
        async with livekit_api(settings) as lkapi:
            await close_room_after_agent(lkapi, room_name, AGENT_LEAVE_TIMEOUT)
    except Exception as exc:
        logger.warning("could not close the room %s: %s", room_name, exc)
