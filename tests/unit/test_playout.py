"""The agent's audio stops when paused instead of playing out the track's queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
from livekit import rtc
from livekit.agents.voice import io
from livekit.agents.voice.room_io._output import _ParticipantAudioOutput

from livekit_patches.playout import DUCK_GAIN, duck_on_pause, room_output, stop_on_pause

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


def recording_levels(out: _ParticipantAudioOutput) -> list[int]:
    """The peak of each frame the output hands its track, in order."""
    peaks: list[int] = []
    capture = out._audio_source.capture_frame

    async def record(frame: rtc.AudioFrame) -> None:
        peaks.append(int(np.abs(np.frombuffer(frame.data, np.int16)).max()))
        await capture(frame)

    out._audio_source.capture_frame = record  # type: ignore[method-assign]
    return peaks


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_duck_lowers_the_voice_and_a_resume_brings_it_back():
    out = room_audio_output()
    peaks = recording_levels(out)
    finished: asyncio.Future[io.PlaybackFinishedEvent] = asyncio.Future()
    out.on("playback_finished", finished.set_result)
    assert duck_on_pause(out, window=0.1, caller_speaking=lambda: False)

    await out.capture_frame(tone(1.5))
    out.flush()
    await until(lambda: len(peaks) >= 4)
    out.pause()
    assert out._audio_source.queued_duration == 0.0, "the queue outlived the duck"
    ducked_from = len(peaks)
    # the caller fell silent before the window ended: the reply goes on, lowered
    await until(lambda: len(peaks) >= ducked_from + 6)
    assert out._playback_enabled.is_set()
    assert all(p < 8000 * DUCK_GAIN * 1.1 for p in peaks[ducked_from:])
    out.resume()
    resumed_from = len(peaks)
    ev = await asyncio.wait_for(finished, 5)
    assert not ev.interrupted
    assert min(peaks[resumed_from + 1 :]) > 7000, "the voice stayed lowered after the resume"
    await out.aclose()


async def test_a_caller_still_speaking_after_the_window_pauses_the_reply():
    out = room_audio_output()
    recording_levels(out)
    assert duck_on_pause(out, window=0.1, caller_speaking=lambda: True)

    await out.capture_frame(tone(1.5))
    out.flush()
    await until(lambda: out._audio_source.queued_duration > 0.1)
    out.pause()
    assert out._playback_enabled.is_set(), "a duck is not a pause"
    await until(lambda: not out._playback_enabled.is_set())
    assert out._audio_source.queued_duration == 0.0
    out.resume()
    await out.aclose()


async def test_an_interruption_while_ducked_stops_the_reply():
    out = room_audio_output()
    finished: asyncio.Future[io.PlaybackFinishedEvent] = asyncio.Future()
    out.on("playback_finished", finished.set_result)
    assert duck_on_pause(out, window=1.0, caller_speaking=lambda: False)

    await out.capture_frame(tone(2.0))
    out.flush()
    await until(lambda: out._audio_source.queued_duration > 0.1)
    out.pause()
    out.clear_buffer()
    ev = await asyncio.wait_for(finished, 5)
    assert ev.interrupted
    assert ev.playback_position < 1.0
    await out.aclose()
