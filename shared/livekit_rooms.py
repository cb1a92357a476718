"""Closing a call's LiveKit room without deleting it under the agent.

A room deleted while the agent is in it ends server-side for the agent, and livekit's SDK then
keeps the agent's published track, with its capture thread, for the life of the worker
(livekit/rust-sdks#1443). So a call is hung up by disconnecting its caller; the agent leaves on
its own, and only then is the room deleted.
"""

from __future__ import annotations

import asyncio
import time

from livekit import api


async def participants(lkapi: api.LiveKitAPI, room_name: str) -> list[api.ParticipantInfo]:
    """Who is in the room; nobody when the room is gone."""
    try:
        listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room_name))
    except api.ServerError as exc:
        if exc.code == api.ServerErrorCode.NOT_FOUND:
            return []
        raise
    return list(listed.participants)


def is_agent(participant: api.ParticipantInfo) -> bool:
    return participant.kind == api.ParticipantInfo.Kind.AGENT


async def close_room_after_agent(lkapi: api.LiveKitAPI, room_name: str, wait: float) -> None:
    """Delete the room once no agent is left in it (or after `wait` seconds)."""
    # Polled: the agent is another process, seen only through LiveKit's API.
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not any(is_agent(p) for p in await participants(lkapi, room_name)):
            break
        await asyncio.sleep(0.2)
    try:
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=room_name))
    except api.ServerError as exc:
        if exc.code != api.ServerErrorCode.NOT_FOUND:
            raise
