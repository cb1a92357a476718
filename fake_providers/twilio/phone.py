"""`FakePhone`: the caller's end of a Twilio bidirectional media stream, as a test holds it.

Twilio opens a websocket to the ``<Connect><Stream url>`` and, like a phone line, never stops
sending: a ``media`` message of 20 ms of mu-law every 20 ms, silence when the caller is quiet.
What the server sends back (``media``, ``mark``, ``clear``) goes into a playback queue that a
20 ms tick plays into the earpiece, one frame per tick, silence when the queue is empty; a mark
is echoed once the audio queued before it has played, and a ``clear`` empties the queue and
echoes the marks still in it at once.

One clock (`time.monotonic`) times everything, and ticks are scheduled against absolute times
from the stream start, so the earpiece timeline does not drift: frame ``i`` of `heard_pcm`
started playing at ``started_at + i * 0.02``. The test talks (`say`, `press`), listens
(`wait_for_speech`, `wait_for_sound`) and ends the call (`hang_up`, `drop`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from fake_providers.twilio.audio import SILENT_FRAME, audible, frame_rms, to_ulaw, ulaw_frames
from fake_providers.twilio.protocol import (
    DTMF_DIGITS,
    FRAME_BYTES,
    FRAME_SECONDS,
    MEDIA_FORMAT,
    SAMPLE_RATE,
    new_sid,
)
from shared.audio import ulaw_decode

DTMF_GAP_S = 0.1
"""Time between the dtmf events of consecutive digits (a key press and its release)."""


class StreamClosed(ConnectionError):
    """The media stream ended before what was waited for happened."""


@dataclass
class Said:
    """One `FakePhone.say`, in monotonic seconds.

    A media message carries the 20 ms spoken just before it was sent: `started_at` is when the
    first frame's audio began (its send time minus 20 ms), `ended_at` when the last frame was
    sent. `speech_started_at` / `speech_ended_at` bound the audible frames (the words without
    the silence the recording may begin or end with). `complete` is False when the stream
    ended first.
    """

    frames: int
    started_at: float | None = None
    ended_at: float | None = None
    speech_started_at: float | None = None
    speech_ended_at: float | None = None
    complete: bool = False


@dataclass(frozen=True)
class Clear:
    """A ``clear`` the server sent: when, how much queued audio it dropped, which marks it
    echoed because of it."""

    at: float
    dropped_ms: float
    marks: tuple[str, ...]


@dataclass(frozen=True)
class Heard:
    """A stretch of speech the earpiece played: monotonic `started_at` / `ended_at`, and its
    int16 8 kHz `pcm`."""

    started_at: float
    ended_at: float
    pcm: np.ndarray = field(repr=False)

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


@dataclass
class _Utterance:
    said: Said
    done: asyncio.Future[Said]
    remaining: int


class FakePhone:
    """The caller on one media stream (see the module docstring).

    Attributes:
        stream_sid: the ``MZ...`` sid of this stream.
        start_parameters: the ``<Parameter>`` values sent in the ``start`` message (its
            ``customParameters``).
        said: every `say`, in order.
        digits: the DTMF digits sent so far.
        marks: the names of the marks echoed, in order.
        clears: every ``clear`` received.
        errors: what the server sent that Twilio would ignore (malformed JSON, wrong
            streamSid, unknown events, binary frames).
        media_sent / media_received: media messages sent and received.
        started_at: monotonic time of the stream start (the first tick); None before.
        closed: set when the stream has ended; `closed_by` says who ended it: ``"server"``
            (it closed the websocket), ``"caller"`` (`hang_up`), ``"dropped"`` (`drop`) or
            ``"twilio"`` (the call was redirected or ended through the REST API).
        close_code: the websocket close code when the server closed it.
    """

    def __init__(
        self,
        *,
        url: str,
        account_sid: str,
        call_sid: str,
        session: aiohttp.ClientSession,
        parameters: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.account_sid = account_sid
        self.call_sid = call_sid
        self.stream_sid = new_sid("MZ")
        self.start_parameters = dict(parameters or {})
        self.said: list[Said] = []
        self.digits = ""
        self.marks: list[str] = []
        self.clears: list[Clear] = []
        self.errors: list[str] = []
        self.media_sent = 0
        self.media_received = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.closed = asyncio.Event()
        self.closed_by: str | None = None
        self.close_code: int | None = None
        self._session = session
        self._headers = dict(headers or {})
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._opened = False
        self._seq = 0
        self._send_lock = asyncio.Lock()
        self._ending: str | None = None
        self._playback: deque[bytes | str] = deque()
        self._playback_bytes = 0
        self._marks_due: list[str] = []
        self._earpiece = bytearray()
        self._levels: list[float] = []
        self._outbox: deque[tuple[bytes, _Utterance]] = deque()
        self._dtmf: deque[tuple[str, asyncio.Future[bool] | None]] = deque()
        self._next_dtmf = 0.0
        self._waiters: list[asyncio.Future[None]] = []
        self._speech_cursor = 0
        self._tasks: list[asyncio.Task[None]] = []

    # --- the stream's life ----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect to the stream URL and send ``connected`` and ``start``; the 20 ms ticks and
        the reading of the server's messages then run until the stream ends."""
        self._ws = await self._session.ws_connect(
            self.url, headers=self._headers, autoping=True, max_msg_size=16 * 1024 * 1024
        )
        await self._ws.send_str(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        self.started_at = time.monotonic()
        start = {
            "accountSid": self.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "customParameters": self.start_parameters,
            "mediaFormat": dict(MEDIA_FORMAT),
        }
        await self._send("start", {"start": start})
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._pace())]
        self._opened = True

    @property
    def is_open(self) -> bool:
        """The stream started and has not ended."""
        return self._opened and not self.closed.is_set()

    async def end(self, by: str = "twilio") -> None:
        """End the stream from Twilio's side: a ``stop`` message, then a normal close."""
        if self._ws is None or self.closed.is_set() or self._ending:
            return
        self._ending = by
        stop = {"stop": {"accountSid": self.account_sid, "callSid": self.call_sid}}
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send("stop", stop)
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
            await asyncio.wait_for(self._ws.close(), 5)
        self._finish(by)

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio sends ``stop`` and closes the websocket normally; the
        call then completes."""
        await self.end("caller")

    async def drop(self) -> None:
        """The line drops: the TCP connection is cut with neither ``stop`` nor a close frame."""
        if self._ws is None or self.closed.is_set() or self._ending:
            return
        self._ending = "dropped"
        _abort_connection(self._ws)
        self._finish("dropped")

    async def aclose(self) -> None:
        """End the stream if it is still open and stop its tasks (the call is over, or the
        server is shutting down)."""
        if self.is_open:
            await self.end()
        elif self._ws is not None and not self.closed.is_set():
            await self._ws.close()
            self._finish("twilio")
        for task in self._tasks:
            if not task.done():
                task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    def _finish(self, by: str) -> None:
        """The stream is over: stop ticking, release whoever waits on it."""
        if self.closed.is_set():
            return
        self.closed_by = by
        self.ended_at = time.monotonic()
        for task in self._tasks:
            if task is not asyncio.current_task() and not task.done():
                task.cancel()
        while self._outbox:
            _, utterance = self._outbox.popleft()
            if not utterance.done.done():
                utterance.done.set_result(utterance.said)
        while self._dtmf:
            _, pressed = self._dtmf.popleft()
            if pressed is not None and not pressed.done():
                pressed.set_result(False)
        self.closed.set()
        self._notify()

    # --- sending --------------------------------------------------------------------------------

    async def _send(self, event: str, body: dict[str, Any]) -> None:
        """Send one sequenced message (every one after ``connected`` carries a sequence
        number); nothing goes out after ``stop``."""
        assert self._ws is not None
        async with self._send_lock:
            if self._ending and event != "stop":
                return
            self._seq += 1
            message = {"event": event, "sequenceNumber": str(self._seq), **body}
            message["streamSid"] = self.stream_sid
            await self._ws.send_str(json.dumps(message))

    async def _pace(self) -> None:
        """One tick every 20 ms against absolute times: late ticks catch up at once, so the
        timeline stays true to the clock."""
        assert self.started_at is not None
        index = 0
        try:
            while not self.closed.is_set():
                delay = self.started_at + index * FRAME_SECONDS - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._tick(index)
                index += 1
        except ConnectionError as exc:
            # The connection is going: the reader sees it end and says how.
            self.errors.append(f"send failed: {exc!r}")

    async def _tick(self, index: int) -> None:
        now = self.frame_time(index)
        due, self._marks_due = self._marks_due, []
        frame, reached_now, reached_later = self._play_frame()
        for name in due + reached_now:
            await self._echo_mark(name)
        self._marks_due = reached_later
        self._earpiece += frame
        self._levels.append(frame_rms(frame))
        await self._send_media(index, self._caller_frame(now))
        await self._send_dtmf(now)
        self._notify()

    def _play_frame(self) -> tuple[bytes, list[str], list[str]]:
        """The next 20 ms of playback (silence-padded), the marks reached before it began and
        the marks reached during it (echoed when it has finished playing)."""
        frame = bytearray()
        before: list[str] = []
        during: list[str] = []
        while self._playback:
            head = self._playback[0]
            if isinstance(head, str):
                self._playback.popleft()
                (during if frame else before).append(head)
                continue
            if len(frame) >= FRAME_BYTES:
                break
            take = head[: FRAME_BYTES - len(frame)]
            frame += take
            self._playback_bytes -= len(take)
            if len(take) < len(head):
                self._playback[0] = head[len(take) :]
            else:
                self._playback.popleft()
        frame += SILENT_FRAME[len(frame) :]
        return bytes(frame), before, during

    def _caller_frame(self, now: float) -> bytes:
        """The caller's next 20 ms: what `say` queued, else the silence of an open line."""
        if not self._outbox:
            return SILENT_FRAME
        frame, utterance = self._outbox.popleft()
        said = utterance.said
        if said.started_at is None:
            said.started_at = now - FRAME_SECONDS
        if audible(frame_rms(frame)):
            if said.speech_started_at is None:
                said.speech_started_at = now - FRAME_SECONDS
            said.speech_ended_at = now
        utterance.remaining -= 1
        if utterance.remaining == 0:
            said.ended_at, said.complete = now, True
            if not utterance.done.done():
                utterance.done.set_result(said)
        return frame

    async def _send_media(self, index: int, frame: bytes) -> None:
        media = {
            "track": "inbound",
            "chunk": str(index + 1),
            "timestamp": str(index * round(FRAME_SECONDS * 1000)),
            "payload": base64.b64encode(frame).decode(),
        }
        await self._send("media", {"media": media})
        self.media_sent += 1

    async def _send_dtmf(self, now: float) -> None:
        if not self._dtmf or now < self._next_dtmf:
            return
        digit, pressed = self._dtmf.popleft()
        await self._send("dtmf", {"dtmf": {"track": "inbound_track", "digit": digit}})
        self.digits += digit
        self._next_dtmf = now + DTMF_GAP_S
        if pressed is not None and not pressed.done():
            pressed.set_result(True)

    async def _echo_mark(self, name: str) -> None:
        await self._send("mark", {"mark": {"name": name}})
        self.marks.append(name)

    # --- receiving ------------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._handle(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    self.errors.append("binary frame ignored (Twilio reads JSON text)")
                else:
                    break
        except (ConnectionError, aiohttp.ClientError) as exc:
            self.errors.append(f"connection lost: {exc!r}")
        self.close_code = ws.close_code
        self._finish(self._ending or "server")

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            self.errors.append(f"malformed JSON ignored: {text[:80]!r}")
            return
        event = message.get("event") if isinstance(message, dict) else None
        if event not in ("media", "mark", "clear"):
            self.errors.append(f"unknown event ignored: {event!r}")
            return
        if message.get("streamSid") != self.stream_sid:
            other = message.get("streamSid")
            self.errors.append(f"{event} for another streamSid ignored: {other!r}")
            return
        if event == "media":
            self._queue_media(message)
        elif event == "mark":
            name = (message.get("mark") or {}).get("name")
            if isinstance(name, str):
                self._playback.append(name)
            else:
                self.errors.append("mark without a name ignored")
        else:
            await self._clear()

    def _queue_media(self, message: dict[str, Any]) -> None:
        payload = (message.get("media") or {}).get("payload")
        try:
            audio = base64.b64decode(payload or "", validate=True)
        except (binascii.Error, TypeError):
            self.errors.append("media with a payload that is not base64 ignored")
            return
        self.media_received += 1
        if audio:
            self._playback.append(audio)
            self._playback_bytes += len(audio)

    async def _clear(self) -> None:
        """Empty the playback queue; the marks in it are echoed now, as Twilio does."""
        marks = tuple(item for item in self._playback if isinstance(item, str))
        dropped_ms = self._playback_bytes / SAMPLE_RATE * 1000
        self._playback.clear()
        self._playback_bytes = 0
        self.clears.append(Clear(time.monotonic(), dropped_ms, marks))
        for name in marks:
            await self._echo_mark(name)

    # --- the test's side ------------------------------------------------------------------------

    async def say(self, pcm: np.ndarray, rate: int) -> Said:
        """Speak `pcm` (mono int16 at `rate`) into the line at real-time pace; returns once its
        last frame was sent (or the stream ended: then ``said.complete`` is False)."""
        self._require_open()
        frames = ulaw_frames(to_ulaw(pcm, rate))
        said = Said(frames=len(frames), complete=not frames)
        self.said.append(said)
        if not frames:
            return said
        utterance = _Utterance(said, asyncio.get_running_loop().create_future(), len(frames))
        self._outbox.extend((frame, utterance) for frame in frames)
        return await utterance.done

    def press(self, digits: str) -> asyncio.Future[bool]:
        """Press keys: one ``dtmf`` event per digit, 100 ms apart. The returned future (await
        it or not) is True once all were sent, False if the stream ended first."""
        self._require_open()
        unknown = set(digits) - DTMF_DIGITS
        if unknown or not digits:
            raise ValueError(f"DTMF digits are 0-9, * and #: {digits!r}")
        pressed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        for position, digit in enumerate(digits):
            self._dtmf.append((digit, pressed if position == len(digits) - 1 else None))
        return pressed

    async def wait_for_sound(self, after: float, timeout: float) -> float:  # noqa: ASYNC109
        """The monotonic time the first audible frame started playing at or after `after`."""
        deadline = time.monotonic() + timeout
        index = self._index_at(after)
        while True:
            while index < len(self._levels):
                if audible(self._levels[index]):
                    return self.frame_time(index)
                index += 1
            if self.closed.is_set():
                raise StreamClosed(f"stream ended ({self.closed_by}) before any sound was heard")
            await self._next_tick(deadline, "sound")

    async def wait_for_speech(
        self,
        timeout: float,  # noqa: ASYNC109 - a test's wait reads best with its bound inline
        quiet: float = 0.8,
        *,
        after: float | None = None,
        min_speech: float = 0.1,
    ) -> Heard:
        """Wait for speech in the earpiece followed by `quiet` seconds without any; returns it.

        The search starts at `after` (monotonic), by default where the last returned speech
        ended. Bursts shorter than `min_speech` are clicks, not speech. A stream that ends
        during the speech ends it; `StreamClosed` if it ends before any; TimeoutError after
        `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        index = self._index_at(after) if after is not None else self._speech_cursor
        quiet_frames = max(1, round(quiet / FRAME_SECONDS))
        first: int | None = None
        last = 0
        while True:
            while index < len(self._levels):
                if audible(self._levels[index]):
                    first = index if first is None else first
                    last = index
                elif first is not None and index - last >= quiet_frames:
                    if (last - first + 1) * FRAME_SECONDS >= min_speech:
                        return self._heard(first, last)
                    first = None
                index += 1
            if self.closed.is_set():
                if first is not None:
                    return self._heard(first, last)
                raise StreamClosed(f"stream ended ({self.closed_by}) before any speech was heard")
            await self._next_tick(deadline, "speech")

    async def wait_for_silence(
        self,
        after: float,
        timeout: float,  # noqa: ASYNC109 - a test's wait reads best with its bound inline
        quiet: float = 0.5,
    ) -> float:
        """When the earpiece went quiet, at or after `after`: the start of the first stretch of
        `quiet` seconds without sound (the end of the stream counts as silence)."""
        deadline = time.monotonic() + timeout
        index = self._index_at(after)
        quiet_frames = max(1, round(quiet / FRAME_SECONDS))
        run = 0
        while True:
            while index < len(self._levels):
                run = 0 if audible(self._levels[index]) else run + 1
                index += 1
                if run >= quiet_frames:
                    return self.frame_time(index - run)
            if self.closed.is_set():
                return self.frame_time(index - run)
            await self._next_tick(deadline, "silence")

    def earpiece_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """When each earpiece frame started playing (monotonic) and its RMS (int16 scale)."""
        if self.started_at is None:
            return np.zeros(0), np.zeros(0)
        levels = np.array(self._levels, dtype=np.float64)
        return self.started_at + np.arange(len(levels)) * FRAME_SECONDS, levels

    def audible_between(self, start: float, end: float) -> bool:
        """Whether the earpiece played any sound in the frames that started in [start, end)."""
        first, last = self._index_at(start), self._index_at(end)
        return any(audible(level) for level in self._levels[first:last])

    def heard_pcm(self) -> np.ndarray:
        """Everything the earpiece played since `started_at`, silence included (int16, 8 kHz)."""
        return ulaw_decode(bytes(self._earpiece))

    def frame_time(self, index: int) -> float:
        """When earpiece frame `index` started playing (monotonic)."""
        assert self.started_at is not None, "stream not started"
        return self.started_at + index * FRAME_SECONDS

    @property
    def queued_ms(self) -> float:
        """Audio waiting in the playback queue."""
        return self._playback_bytes / SAMPLE_RATE * 1000

    def _heard(self, first: int, last: int) -> Heard:
        self._speech_cursor = last + 1
        pcm = ulaw_decode(bytes(self._earpiece[first * FRAME_BYTES : (last + 1) * FRAME_BYTES]))
        return Heard(self.frame_time(first), self.frame_time(last + 1), pcm)

    def _index_at(self, moment: float) -> int:
        if self.started_at is None:
            return 0
        return max(0, math.ceil((moment - self.started_at) / FRAME_SECONDS - 1e-9))

    def _require_open(self) -> None:
        if not self.is_open or self._ending:
            raise StreamClosed("the media stream is not open")

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _next_tick(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {what} in the earpiece in time")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, remaining)
        except TimeoutError:
            raise TimeoutError(f"no {what} in the earpiece in time") from None


def _abort_connection(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Cut the websocket's TCP connection at once, then let its connection go. aiohttp has no
    public call that closes a client websocket without a close frame, so this reaches the
    upgraded response underneath."""
    response = ws._response
    connection = response.connection
    transport = connection.transport if connection is not None else None
    if transport is not None:
        transport.abort()
    response.close()
