"""The agent's audio stops when paused instead of playing out the track's queue."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc
from livekit.agents.voice import io
from livekit.agents.voice.room_io._output import _ParticipantAudioOutput

from livekit_patches.playout import room_output, stop_on_pause

RATE = 24000


def room_audio_output() -> _ParticipantAudioOutput:
    """The framework's room output, forwarding into its AudioSource; no server needed."""
    out = _ParticipantAudioOutput(
        rtc.Room(),
        sample_rate=RATE,
        num_channels=1,
        track_publish_options=rtc.TrackPublishOptions(),
    )
    out._subscribed_fut.set_result(None)  # as if the caller subscribed to the track
    out._forwarding_task = asyncio.create_task(out._forward_audio())
    return out


def tone(seconds: float) -> rtc.AudioFrame:
    n = round(seconds * RATE)
    samples = (np.sin(np.arange(n) * 2 * np.pi * 440 / RATE) * 8000).astype(np.int16)
    return rtc.AudioFrame(samples.tobytes(), RATE, 1, n)


async def test_pause_drops_the_queued_audio_and_resume_goes_on():
    out = room_audio_output()
    finished: asyncio.Future[io.PlaybackFinishedEvent] = asyncio.Future()
    out.on("playback_finished", finished.set_result)
    assert stop_on_pause(out)

    await out.capture_frame(tone(1.0))
    out.flush()
    await asyncio.sleep(0.3)  # let some of it play
    queued = out._audio_source.queued_duration
    assert queued > 0.1, "the track keeps audio queued while it plays"

    out.pause()
    assert out._audio_source.queued_duration == 0.0, "the queue outlived the pause"

    out.resume()
    ev = await asyncio.wait_for(finished, 5)
    assert not ev.interrupted
    # the dropped queue never played, so the reply's position skips it
    assert 1.0 - queued - 0.08 <= ev.playback_position <= 1.0 - queued + 0.08
    await out.aclose()


async def test_the_room_output_is_found_behind_the_framework_wrappers():
    out = room_audio_output()
    # what a session's output chain ends in: the proxy the framework puts before its sink
    chain = io._AudioSinkProxy(io._AudioSinkProxy(out))
    assert room_output(chain) is out
    assert stop_on_pause(chain)
    assert room_output(None) is None
    assert not stop_on_pause(None)
    await out.aclose()
