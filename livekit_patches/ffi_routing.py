"""Hand each of livekit's audio events to the one place waiting for it.

livekit's Python SDK receives every native event on one callback and offers it to every
subscriber in the process (`FfiQueue.put`): every `AudioStream` is offered every call's audio
frames, and every pending `AudioSource.capture_frame` (one per frame being sent) and every
`Room` is offered everything else, each through `loop.call_soon_threadsafe` (a pipe write and
a wake-up) when its filter cannot reject the event. A process holding N calls therefore does
work in N^2 per second of audio; with calls as threads, each delivery also wakes another
thread. `install()` routes the two events that make up nearly all the traffic to their one
recipient:

- an audio stream's frames go to the stream with that handle;
- a frame capture's completion goes to the capture waiting for that request id.

The native side starts sending a stream's frames (silence, at least) as soon as it has created
the stream, before the request creating it has returned its handle to Python: frames of an
unknown handle that arrive while a stream is being created are parked, and delivered, in
order, with that stream's next frame once it is routed. Every other event takes the SDK's own
path. Installed in the worker and the load tester before any room is joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from livekit.rtc import AudioSource, AudioStream
from livekit.rtc._ffi_client import FfiClient, FfiQueue
from livekit.rtc._proto import ffi_pb2 as proto_ffi

from . import WrittenFor

logger = logging.getLogger("livekit_patches.ffi_routing")

WRITTEN_FOR = WrittenFor("livekit", "1.1.21")
"""The livekit release whose `capture_frame` and subscriptions this module follows."""
EARLY_CALLBACKS_MAX = 4096
"""Completions that arrived before their waiter registered are kept until claimed (the
native side can answer before the requesting thread reads the response); a bound in case a
waiter never comes (its task cancelled between the request and the wait)."""


PARKED_MAX = 50
"""Frames parked for one unknown handle (half a second of audio) before they are given to the
SDK's own path after all (a stream created some other way, not one being created now)."""
CLOSED_STREAMS_MAX = 1024
"""Closed streams remembered, to drop the frames still in flight to them (handles are not
reused: a closed one is only ever sent its late frames)."""


class RoutedFfiQueue(FfiQueue[proto_ffi.FfiEvent]):
    """`FfiQueue` with direct routes for audio stream frames and frame captures.

    No lock of its own: `put` runs on livekit's native threads, and a Python lock taken there
    (or by a finalizer during a garbage collection) is one more way to deadlock against the
    interpreter's own locks. Each route is one dict operation, atomic under the GIL."""

    def __init__(self) -> None:
        super().__init__()
        self._streams: dict[int, tuple[Any, asyncio.AbstractEventLoop]] = {}
        self._captures: dict[int, Any] = {}
        """async id -> its waiter (future, loop), or its completion if that came first."""
        self._creating: set[object] = set()
        """Streams being created now: their handles are not known yet."""
        self._parked: dict[int, list[proto_ffi.FfiEvent]] = {}
        """Unknown handle -> its frames that arrived while a stream was being created. Only the
        thread putting a handle's frames (the native side sends one stream's events one after
        another) takes them out, so they keep their order."""
        self._closed: dict[int, None] = {}
        """Handles of routed streams since closed (the latest `CLOSED_STREAMS_MAX`): frames the
        native side still sends them are dropped, as the SDK's own unsubscribed stream would
        drop them, instead of being offered to every subscriber in the process."""

    def put(self, item: proto_ffi.FfiEvent) -> None:
        which = item.WhichOneof("message")
        if which == "audio_stream_event":
            handle = item.audio_stream_event.stream_handle
            route = self._streams.get(handle)
            if route is None:
                if handle in self._closed:
                    self._parked.pop(handle, None)
                    return
                if self._creating:
                    parked = self._parked.setdefault(handle, [])
                    parked.append(item)
                    if len(parked) <= PARKED_MAX:
                        return
            early = self._parked.pop(handle, None) or ()
            if route is not None:
                queue, loop = route
                for event in (*early, item):
                    _deliver(loop, queue.put_nowait, event)
                return
            for event in early:
                if event is not item:
                    super().put(event)
        elif which == "capture_audio_frame":
            async_id = item.capture_audio_frame.async_id
            slot = self._captures.setdefault(async_id, item)
            if slot is item:  # before its waiter: kept for it
                self._trim()
                return
            self._captures.pop(async_id, None)
            future, loop = slot
            _deliver(loop, _resolve, future, item)
            return
        super().put(item)

    @contextlib.contextmanager
    def creating_stream(self) -> Iterator[None]:
        """While a stream is created: frames of handles not routed yet are parked."""
        token = object()
        self._creating.add(token)
        try:
            yield
        finally:
            self._creating.discard(token)

    def route_stream(self, handle: int, queue: Any, loop: asyncio.AbstractEventLoop) -> None:
        """Send the frames of stream `handle` only to `queue` (the stream's own): those parked
        for it go with its next frame."""
        self._streams[handle] = (queue, loop)

    def unsubscribe(self, queue: Any) -> None:
        for handle, (routed, _) in list(self._streams.items()):
            if routed is queue:
                self._closed[handle] = None
                self._streams.pop(handle, None)
                self._parked.pop(handle, None)
        while len(self._closed) > CLOSED_STREAMS_MAX:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                self._closed.pop(next(iter(self._closed)))
        super().unsubscribe(queue)

    def capture_done(self, async_id: int, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        """A future for the completion event of capture request `async_id`."""
        future: asyncio.Future[Any] = loop.create_future()
        waiter = (future, loop)
        slot = self._captures.setdefault(async_id, waiter)
        if slot is not waiter:  # the completion came first
            self._captures.pop(async_id, None)
            future.set_result(slot)
        return future

    def forget_capture(self, async_id: int) -> None:
        self._captures.pop(async_id, None)

    def _trim(self) -> None:
        excess = len(self._captures) - EARLY_CALLBACKS_MAX
        if excess <= 0:
            return
        for async_id in list(self._captures)[:excess]:
            if isinstance(self._captures.get(async_id), proto_ffi.FfiEvent):
                self._captures.pop(async_id, None)


def _deliver(loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> None:
    # A closed loop raises: the call that owned it has ended, nobody is waiting.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def _resolve(future: asyncio.Future[Any], item: Any) -> None:
    if not future.done():
        future.set_result(item)


def _routed() -> RoutedFfiQueue:
    queue = FfiClient.instance.queue
    assert isinstance(queue, RoutedFfiQueue), "install() first"
    return queue


_stock_stream_init = AudioStream.__init__


def _stream_init(self: AudioStream, *args: Any, **kwargs: Any) -> None:
    routes = _routed()
    with routes.creating_stream():
        _stock_stream_init(self, *args, **kwargs)
        routes.route_stream(self._ffi_handle.handle, self._ffi_queue, self._loop)


async def _capture_frame(self: AudioSource, frame: Any) -> None:
    """`AudioSource.capture_frame` of `SDK_VERSION`, waiting on its own completion only."""
    if frame.samples_per_channel == 0 or self._ffi_handle.disposed:
        return
    now = time.monotonic()
    elapsed = 0.0 if self._last_capture == 0.0 else now - self._last_capture
    self._q_size += frame.samples_per_channel / self.sample_rate - elapsed
    self._last_capture = now
    if self._join_handle:
        self._join_handle.cancel()
    if self._join_fut is None:
        self._join_fut = self._loop.create_future()
    self._join_handle = self._loop.call_later(self._q_size, self._release_waiter)

    req = proto_ffi.FfiRequest()
    req.capture_audio_frame.source_handle = self._ffi_handle.handle
    req.capture_audio_frame.buffer.CopyFrom(frame._proto_info())
    routes = _routed()
    resp = FfiClient.instance.request(req)
    async_id = resp.capture_audio_frame.async_id
    try:
        cb = await routes.capture_done(async_id, self._loop)
    finally:
        routes.forget_capture(async_id)
    if cb.capture_audio_frame.error:
        raise Exception(cb.capture_audio_frame.error)


def install() -> bool:
    """Route audio events directly, from now on, in this process (idempotent); False, with a
    warning, on a livekit SDK other than the one this module follows (it replaces
    `AudioSource.capture_frame` and wraps `AudioStream.__init__`)."""
    if not WRITTEN_FOR.applies("audio event routing"):
        return False
    client = FfiClient.instance
    if isinstance(client.queue, RoutedFfiQueue):
        return True
    routed = RoutedFfiQueue()
    stock = client.queue
    with stock._lock:
        routed._subscribers = list(stock._subscribers)
        client._queue = routed
    AudioStream.__init__ = _stream_init  # type: ignore[method-assign]
    AudioSource.capture_frame = _capture_frame  # type: ignore[method-assign]
    return True
