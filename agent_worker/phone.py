"""What a call does differently when its caller is on a phone line (the phone gateway's
participant, `telephony.bridge`): the provider's queued audio is dropped when the agent is
interrupted, keypad digits reach the agent as the caller's words, and a line lost without a
hang-up ends the record as `connection_lost`."""

from __future__ import annotations

import asyncio
import json
import logging
import re

from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice.io import PlaybackFinishedEvent

from telephony.bridge import CONTROL_TOPIC, ENDED_ATTRIBUTE

logger = logging.getLogger("agent_worker.phone")

PROVIDER_ATTRIBUTE = "phone.provider"
"""Set (in the caller's token) on a phone line's participant."""
NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")

KEYPAD_PAUSE = 2.0
"""Seconds after the last digit before the digits pressed go to the agent (`#` sends them at
once)."""


def is_phone_line(participant: rtc.Participant) -> bool:
    return bool(participant.attributes.get(PROVIDER_ATTRIBUTE))


def line_lost(participant: rtc.Participant) -> bool:
    """Whether the line left because it was lost (the provider's stream closed without a
    hang-up)."""
    return participant.attributes.get(ENDED_ATTRIBUTE) == "connection_lost"


def is_phone_number(target: str | None) -> bool:
    return bool(target) and NUMBER.match(target or "") is not None


def phone_lines(room: rtc.Room) -> list[str]:
    return [p.identity for p in room.remote_participants.values() if is_phone_line(p)]


class PhoneLine:
    """Follows a call's room for phone lines; does nothing on a call without one."""

    def __init__(self, room: rtc.Room, session: AgentSession) -> None:
        self.room = room
        self.session = session
        self._digits: list[str] = []
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self) -> None:
        if self.session.output.audio is not None:
            self.session.output.audio.on("playback_finished", self._on_playback_finished)
        self.room.on("sip_dtmf_received", self._on_digit)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- barge-in: what the provider queued is not heard -------------------------------------

    def _on_playback_finished(self, ev: PlaybackFinishedEvent) -> None:
        if not ev.interrupted:
            return
        lines = phone_lines(self.room)
        if lines:
            self._spawn(self._clear(lines))

    async def _clear(self, lines: list[str]) -> None:
        try:
            await self.room.local_participant.publish_data(
                json.dumps({"type": "clear"}), destination_identities=lines, topic=CONTROL_TOPIC
            )
        except Exception as exc:  # the line is gone; nothing to clear
            logger.debug("could not clear the phone line: %s", exc)

    # --- the keypad ---------------------------------------------------------------------------

    def _on_digit(self, ev: rtc.SipDTMF) -> None:
        if ev.participant is None or not is_phone_line(ev.participant):
            return
        if self._flush is not None:
            self._flush.cancel()
        if ev.digit == "#":
            self._send_digits()
            return
        self._digits.append(ev.digit)
        self._flush = asyncio.get_running_loop().call_later(KEYPAD_PAUSE, self._send_digits)

    def _send_digits(self) -> None:
        self._flush = None
        digits, self._digits = "".join(self._digits), []
        if not digits:
            return
        logger.info("caller pressed %s", digits, extra={"room": self.room.name})
        self.session.interrupt()
        self.session.generate_reply(user_input=f"Keypad: {digits}")

    async def aclose(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
