"""Hanging up a call in LiveKit: its callers disconnected, its room closed once the agent has
left (`shared.livekit_rooms`: a room deleted under the agent keeps its track in the worker)."""

from __future__ import annotations

import logging

from livekit import api

from shared.livekit_rooms import close_room_after_agent, is_agent, participants

from ..settings import Settings

logger = logging.getLogger("control_plane.services.calls")

AGENT_LEAVE_TIMEOUT = 30.0
"""Seconds an ended call's room waits for the agent to leave before it is deleted anyway. An
agent finishing its call (the record, the recording) leaves ~2 s after its caller on an idle
machine, and several times later on a busy one; deleting the room under it would keep its track
for the life of the worker."""


class LiveKitUnavailableError(Exception):
    """LiveKit could not be asked, or refused; the message says which."""


def livekit_api(settings: Settings) -> api.LiveKitAPI:
    return api.LiveKitAPI(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
    )


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
