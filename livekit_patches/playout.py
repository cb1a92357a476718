"""Stop the agent's audio in the room as soon as the caller cuts in.

livekit-agents pauses the agent's audio output when the caller starts speaking over it (and
resumes it after a false interruption). Its room output keeps up to 200 ms of audio queued in
the track's `AudioSource` (`queue_size_ms=200`), and its `pause()` leaves that queue alone:
the queue is only dropped once the next frame reaches the paused output, so the caller keeps
hearing the agent for up to 200 ms after the pause. `stop_on_pause` makes the pause drop the
queue at once, accounting for it exactly as the output does itself when it drops the queue
later (the dropped audio is not counted as heard, and a resumed reply continues after it).

`duck_on_pause` goes further for a caller's short sounds: the pause lowers the agent's voice
(by `DUCK_GAIN`) instead of silencing it, and becomes a real pause only if the caller is still
speaking `window` seconds later. A "yeah" over the reply is over by then: the reply goes on,
quieter while the sound is transcribed, and comes back to full volume when livekit resumes it
(its false-interruption path, or the worker's backchannel rule). A barge-in is heard quieter
at the same moment a pause would have silenced it, silenced `window` later, and cut off for
good as soon as its words are transcribed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np
from livekit import rtc
from livekit.agents.voice import io
from livekit.agents.voice.room_io._output import _ParticipantAudioOutput

from . import WrittenFor

logger = logging.getLogger("livekit_patches.playout")

WRITTEN_FOR = WrittenFor("livekit-agents", "1.8.9")
"""The release whose room audio output (`_ParticipantAudioOutput`) this module follows."""


def room_output(output: io.AudioOutput | None) -> _ParticipantAudioOutput | None:
    """The room's audio output at the end of the session's output chain."""
    while output is not None:
        if isinstance(output, _ParticipantAudioOutput):
            return output
        output = output.next_in_chain
    return None


DUCK_GAIN = 0.1
"""The agent's voice while the caller's sound may be a backchannel: -20 dB, heard but backed
off."""
DUCK_CHECK_S = 0.02


def _drop_queue(room: _ParticipantAudioOutput) -> None:
    """Drop the track's queued audio, accounted as the output does it: never heard, and the
    reply goes on after it."""
    source = room._audio_source
    queued = source.queued_duration
    if queued <= 0:
        return
    room._source_discarded_duration += queued
    room._report_run(
        offset=room._source_pushed_duration - queued,
        ended_at=time.time(),
        resumes_at=room._source_pushed_duration,
    )
    source.clear_queue()


def stop_on_pause(output: io.AudioOutput | None) -> bool:
    """Make the room output drop its queued audio when paused; False if there is none (or on
    another livekit-agents release)."""
    return duck_on_pause(output, window=0.0, caller_speaking=lambda: True)


def duck_on_pause(
    output: io.AudioOutput | None, *, window: float, caller_speaking: Callable[[], bool]
) -> bool:
    """Make the room output's pause duck the agent's voice, and pause it for real once
    `caller_speaking()` still holds `window` seconds later (0: at once); either way its queued
    audio is dropped at the pause. False if there is no room output (or on another
    livekit-agents release)."""
    if not WRITTEN_FOR.applies("dropping queued audio on a pause"):
        return False
    room = room_output(output)
    if room is None:
        logger.warning("no room audio output found; pausing keeps its queued audio")
        return False
    _Ducking(room, window, caller_speaking)
    return True


class _Ducking:
    """The room output's pause, resume and clear, and its track's capture, rewired."""

    def __init__(
        self, room: _ParticipantAudioOutput, window: float, caller_speaking: Callable[[], bool]
    ) -> None:
        self.room = room
        self.window = window
        self.caller_speaking = caller_speaking
        self.ducked_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pause, self._resume, self._clear = room.pause, room.resume, room.clear_buffer
        self._capture = room._audio_source.capture_frame
        room.pause = self.pause  # type: ignore[method-assign]
        room.resume = self.resume  # type: ignore[method-assign]
        room.clear_buffer = self.clear_buffer  # type: ignore[method-assign]
        room._audio_source.capture_frame = self.capture_frame  # type: ignore[method-assign]

    def pause(self) -> None:
        if self.ducked_at is not None:
            return
        if self.window <= 0 or not self.room._playback_enabled.is_set():
            self._hard_pause()
            return
        _drop_queue(self.room)
        self.ducked_at = time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(self.window, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.ducked_at is None:
            return
        if not self.room._pushed_duration:
            self._end_duck()  # the reply played out while ducked
        elif self.caller_speaking():
            self._hard_pause()
        else:
            self._timer = asyncio.get_running_loop().call_later(DUCK_CHECK_S, self._check)

    def _hard_pause(self) -> None:
        self._end_duck()
        self._pause()
        _drop_queue(self.room)

    def _end_duck(self) -> None:
        self.ducked_at = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def resume(self) -> None:
        self._end_duck()
        self._resume()

    def clear_buffer(self) -> None:
        if self.ducked_at is not None:
            _drop_queue(self.room)  # the ducked audio already queued is cut off too
        self._end_duck()
        self._clear()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        if self.ducked_at is not None:
            frame = attenuated(frame, DUCK_GAIN)
        await self._capture(frame)


def attenuated(frame: rtc.AudioFrame, gain: float) -> rtc.AudioFrame:
    samples = np.frombuffer(frame.data, dtype=np.int16) * gain
    return rtc.AudioFrame(
        samples.astype(np.int16).tobytes(),
        frame.sample_rate,
        frame.num_channels,
        frame.samples_per_channel,
    )
