"""Stop the agent's audio in the room as soon as the caller cuts in.

livekit-agents pauses the agent's audio output when the caller starts speaking over it (and
resumes it after a false interruption). Its room output keeps up to 200 ms of audio queued in
the track's `AudioSource` (`queue_size_ms=200`), and its `pause()` leaves that queue alone:
the queue is only dropped once the next frame reaches the paused output, so the caller keeps
hearing the agent for up to 200 ms after the pause. `stop_on_pause` makes the pause drop the
queue at once, accounting for it exactly as the output does itself when it drops the queue
later (the dropped audio is not counted as heard, and a resumed reply continues after it).
"""

from __future__ import annotations

import logging
import time

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


def stop_on_pause(output: io.AudioOutput | None) -> bool:
    """Make the room output drop its queued audio when paused; False if there is none (or on
    another livekit-agents release)."""
    if not WRITTEN_FOR.applies("dropping queued audio on a pause"):
        return False
    room = room_output(output)
    if room is None:
        logger.warning("no room audio output found; pausing keeps its queued audio")
        return False
    pause = room.pause

    def pause_and_drop_queue() -> None:
        pause()
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

    room.pause = pause_and_drop_queue  # type: ignore[method-assign]
    return True
