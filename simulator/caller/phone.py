"""A scripted call over a phone line: the fake Twilio calls the control plane's number, and the
same script as a WebRTC call (`call.converse`: utterances, barge-ins, backchannels) runs
over its phone, so every turn-taking and latency figure can be measured on the phone path.

Voice-to-voice is measured as on WebRTC, at the caller: from the last speech frame sent into
the line to the first audible frame the phone's earpiece played. The agent's own telemetry
is not on a phone line (it is published in the room), so a phone turn carries no agent-side
breakdown.
"""

from __future__ import annotations

import time

import numpy as np

from fake_providers.twilio import FakeTwilio
from fake_providers.twilio.phone import FakePhone, StreamClosed
from shared.audio import resample

from ..audio import CALLER_RATE
from .call import converse
from .media import backed_off
from .script import AgentSpeech, CallReport, CallScript

LINE_RATE = 8000
LINE_FRAME_MS = 20


class PhoneMicrophone:
    """The caller's voice into the line, as `media.Microphone` does into a room."""

    frame_ms = LINE_FRAME_MS

    def __init__(self, phone: FakePhone) -> None:
        self.phone = phone

    async def say(self, audio: np.ndarray) -> list[float]:
        """Speak `audio` (CALLER_RATE); when each 20 ms frame of it had been sent."""
        said = await self.phone.say(audio, CALLER_RATE)
        start = said.started_at if said.started_at is not None else time.monotonic()
        return [start + (i + 1) * self.frame_ms / 1000 for i in range(max(1, said.frames))]


class PhoneListener:
    """The agent's speech as the phone's earpiece played it, as `media.AgentListener`
    finds it in a room's track."""

    def __init__(self, phone: FakePhone) -> None:
        self.phone = phone

    async def next_speech(
        self, *, after: float, start_timeout: float, end_silence: float, max_duration: float = 60
    ) -> AgentSpeech | None:
        started = await self.speech_start(after=after, within=start_timeout)
        if started is None:
            return None
        try:
            heard = await self.phone.wait_for_speech(
                max_duration + end_silence, quiet=end_silence, after=started
            )
        except (TimeoutError, StreamClosed):
            return None
        audio = resample(heard.pcm, LINE_RATE, CALLER_RATE)
        return AgentSpeech(heard.started_at, heard.ended_at, audio)

    async def speech_start(self, *, after: float, within: float) -> float | None:
        try:
            return await self.phone.wait_for_sound(after, within)
        except (TimeoutError, StreamClosed):
            return None

    async def quiet_from(self, *, after: float, quiet: float, within: float) -> float | None:
        try:
            return await self.phone.wait_for_silence(after, within, quiet)
        except TimeoutError:
            return None

    def audible_between(self, start: float, end: float) -> bool:
        return self.phone.audible_between(start, end)

    def backed_off_at(self, onset: float) -> float | None:
        times, rms = self.phone.earpiece_levels()
        dbfs = 20 * np.log10(np.maximum(rms / 32768.0, 1e-6))
        delay = backed_off(times, dbfs, onset, LINE_FRAME_MS)
        return None if delay is None else onset + delay


async def phone_call(
    twilio: FakeTwilio,
    script: CallScript,
    *,
    voice_url: str,
    to: str,
    from_: str,
    account_sid: str,
) -> CallReport:
    """Call `to` (a number the control plane at `voice_url` answers) from `from_`, hold the
    scripted conversation over the line, hang up."""
    placed_at = time.monotonic()
    call = await twilio.place_inbound_call(
        voice_url=voice_url, to=to, from_=from_, account_sid=account_sid
    )
    phone = await call.connected(timeout=script.greeting_timeout)
    joined = time.monotonic() - placed_at
    mic, listener = PhoneMicrophone(phone), PhoneListener(phone)
    try:
        greeting, turns = await converse(mic, listener, script, placed_at)
    finally:
        if phone.is_open:
            await phone.hang_up()
    conversation = phone.start_parameters.get("conversation_id", call.sid)
    agent_heard = greeting.started_at - placed_at if greeting is not None else None
    return CallReport(conversation, joined, agent_heard, greeting, turns, None)
