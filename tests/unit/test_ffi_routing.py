"""livekit's audio events reach their own call only, and still all of them."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
from livekit import rtc
from livekit.rtc._ffi_client import FfiClient
from livekit.rtc._proto import ffi_pb2 as proto_ffi

from livekit_patches import ffi_routing

RATE = 16000
FRAME = RATE // 100  # 10 ms


async def loop_back(marker: int, frames: int) -> list[int]:
    """One call's audio: a source feeding a track, and a stream of that track; returns the
    sample value of every frame the stream delivered."""
    source = rtc.AudioSource(RATE, 1, queue_size_ms=100)
    track = rtc.LocalAudioTrack.create_audio_track(f"call-{marker}", source)
    stream = rtc.AudioStream.from_track(
        track=track, sample_rate=RATE, num_channels=1, frame_size_ms=10
    )
    heard: list[int] = []

    async def speak() -> None:
        for _ in range(frames + 20):
            chunk = np.full(FRAME, marker, np.int16)
            await source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME))

    async def listen() -> None:
        async for ev in stream:
            samples = np.frombuffer(ev.frame.data, np.int16)
            heard.extend(set(samples[samples != 0].tolist()))
            if len(heard) >= frames:
                return

    speaking = asyncio.create_task(speak())
    try:
        await asyncio.wait_for(listen(), 10)
    finally:
        speaking.cancel()
        await stream.aclose()
        await source.aclose()
    return heard


def test_each_call_gets_its_own_frames_and_nobody_elses() -> None:
    ffi_routing.install()
    queue = FfiClient.instance.queue
    assert isinstance(queue, ffi_routing.RoutedFfiQueue)

    # A subscriber as the SDK's own streams subscribe (every audio stream event): without
    # the routes it is offered every frame of every call in the process.
    offered: list[proto_ffi.FfiEvent] = []

    def audio_frames(event: proto_ffi.FfiEvent) -> bool:
        if event.WhichOneof("message") == "audio_stream_event":
            offered.append(event)
        return False

    spy_loop = asyncio.new_event_loop()
    spy = queue.subscribe(spy_loop, filter_fn=audio_frames)
    results: dict[int, list[int]] = {}

    def call(marker: int) -> None:  # calls run as threads, each with its own loop
        results[marker] = asyncio.run(loop_back(marker, 30))

    try:
        threads = [threading.Thread(target=call, args=(m,)) for m in (111, 222)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        queue.unsubscribe(spy)
        spy_loop.close()

    assert set(results) == {111, 222}
    assert results[111] and set(results[111]) == {111}
    assert results[222] and set(results[222]) == {222}
    assert offered == []
    assert queue._streams == {}  # closed streams leave no route behind


def capture_done_event(async_id: int) -> proto_ffi.FfiEvent:
    event = proto_ffi.FfiEvent()
    event.capture_audio_frame.async_id = async_id
    return event


async def test_a_capture_completion_before_its_waiter_is_kept_for_it() -> None:
    queue = ffi_routing.RoutedFfiQueue()
    loop = asyncio.get_running_loop()
    queue.put(capture_done_event(7))  # the native side answered before the waiter registered
    early = await asyncio.wait_for(queue.capture_done(7, loop), 1)
    assert early.capture_audio_frame.async_id == 7

    waiting = queue.capture_done(8, loop)
    threading.Thread(target=queue.put, args=(capture_done_event(8),)).start()
    late = await asyncio.wait_for(waiting, 1)
    assert late.capture_audio_frame.async_id == 8
    assert queue._captures == {}


def test_unclaimed_completions_are_bounded() -> None:
    queue = ffi_routing.RoutedFfiQueue()
    for async_id in range(ffi_routing.EARLY_CALLBACKS_MAX + 10):
        queue.put(capture_done_event(async_id))
    assert len(queue._captures) == ffi_routing.EARLY_CALLBACKS_MAX
    assert 0 not in queue._captures  # the oldest went first


def test_late_frames_of_a_closed_stream_go_nowhere() -> None:
    queue = ffi_routing.RoutedFfiQueue()
    loop = asyncio.new_event_loop()
    try:
        offered: list[proto_ffi.FfiEvent] = []
        spy = queue.subscribe(loop, filter_fn=lambda ev: bool(offered.append(ev)))
        own = queue.subscribe(loop)
        queue.route_stream(150, own, loop)
        queue.unsubscribe(own)  # the stream closed; the native side still had a frame for it
        late = proto_ffi.FfiEvent()
        late.audio_stream_event.stream_handle = 150
        queue.put(late)
        other = proto_ffi.FfiEvent()
        other.audio_stream_event.stream_handle = 151  # never routed: the SDK's own path
        queue.put(other)
        assert [ev.audio_stream_event.stream_handle for ev in offered] == [151]
        queue.unsubscribe(spy)
    finally:
        loop.close()


def frame_event(handle: int, n: int) -> proto_ffi.FfiEvent:
    event = proto_ffi.FfiEvent()
    event.audio_stream_event.stream_handle = handle
    event.audio_stream_event.frame_received.frame.handle.id = n
    return event


async def test_frames_before_a_new_stream_is_routed_reach_it_in_order() -> None:
    # The native side sends a stream's first frames before the request that created it has
    # returned the handle: they wait for the stream instead of going to every subscriber.
    queue = ffi_routing.RoutedFfiQueue()
    loop = asyncio.get_running_loop()
    offered: list[proto_ffi.FfiEvent] = []
    spy = queue.subscribe(loop, filter_fn=lambda ev: bool(offered.append(ev)))
    own = queue.subscribe(loop)
    with queue.creating_stream():
        queue.put(frame_event(150, 1))
        queue.put(frame_event(150, 2))
        queue.route_stream(150, own, loop)
    queue.put(frame_event(150, 3))
    got = [(await asyncio.wait_for(own.get(), 1)) for _ in range(3)]
    assert [ev.audio_stream_event.frame_received.frame.handle.id for ev in got] == [1, 2, 3]
    assert offered == []

    # A handle nobody is creating (a stream made some other way) keeps the SDK's own path,
    # its parked frames first.
    with queue.creating_stream():
        queue.put(frame_event(160, 1))
    queue.put(frame_event(160, 2))
    assert [ev.audio_stream_event.frame_received.frame.handle.id for ev in offered] == [1, 2]
    assert queue._parked == {}
    queue.unsubscribe(spy)
    queue.unsubscribe(own)
