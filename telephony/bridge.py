"""One phone call: the provider's media stream on one side, the call's LiveKit room on the
other.

The control plane answered the provider's webhook with TwiML naming this gateway's stream URL
and a LiveKit token for the call (a `<Parameter>` of the stream). The bridge joins the room as
the phone participant with that token (joining dispatches the agent), publishes the caller's
audio (8 kHz mu-law, decoded and published at its own rate), and sends the agent's audio back
as 20 ms mu-law chunks as it arrives from the room, which paces it at the caller's real time.
A mark after
every `MARK_EVERY` of audio tells what the caller has actually heard. The agent's `clear` (it
was interrupted) drops what the provider has queued; keypad digits reach the room as DTMF.

How it ends: the provider's `stop` (the caller hung up, or the call was redirected) leaves the
room; a websocket lost without `stop` leaves it too, after saying so in the phone
participant's attributes (`phone.ended: connection_lost`), which the agent records; the room
closing or the agent leaving closes the stream, and the provider then runs what follows the
stream (a transfer, or the hang-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from livekit import rtc

from shared.audio import ulaw_decode, ulaw_encode

from . import media

logger = logging.getLogger("telephony.bridge")

ROOM_SAMPLE_RATE = 8000
"""The rate the caller's audio is published at: the line's own. WebRTC's send path upsamples it
for the Opus encoder (its sinc resampler, a few ms); a resampler here only added delay. soxr's
`MEDIUM` (livekit's default) held ~60 ms of a 20 ms chunk stream and gave it out in 60 ms
bursts: the caller was heard ~90 ms later in the room than a WebRTC caller, and the receivers'
jitter buffers grew on the bursts (benchmarks/phone_gateway.py measures the difference)."""
MARK_EVERY = 10
"""Chunks (of 20 ms) of agent audio between marks."""
CONTROL_TOPIC = "lk.phone"
"""The data topic on which the agent tells the phone line what to do (`{"type": "clear"}`)."""
ENDED_ATTRIBUTE = "phone.ended"
"""Set on the phone participant before it leaves when the line was lost, not hung up."""
TRANSCRIPTION_TOPIC = "lk.transcription"
START_TIMEOUT = 10.0
"""Seconds a new stream has to send its `start`."""
CALLER_BACKLOG = 25
"""Chunks (of 20 ms, 0.5 s) of the caller's audio that may wait for the room; older ones are
dropped. The pump hands them to the room as fast as it takes them (the source has no queue),
so a backlog never stays as delay: it is only there when the provider sent a burst (network
jitter) or the gateway's loop was held up. A 2-chunk backlog lost up to 0.8 s of a 20 s call's
speech on a busy machine (bursts after the loop stalled), enough to lose a barge-in's words."""
ROOM_QUEUE_MS = 0
"""No queue in the room's source: each 10 ms of the caller's audio goes to the encoder as it
arrives, as a microphone's does, and the jitter of its arrival is left to the receivers' jitter
buffers, which adapt. A queue fed at the caller's real time only ever fills: a late burst from
the provider would stay in it as standing delay for the rest of the call (up to twice its
size)."""
RESAMPLER_QUALITY = rtc.AudioResamplerQuality.QUICK
"""The resampler used when `ROOM_SAMPLE_RATE` is not the line's (`QUICK` gives each chunk out
as it comes; better ones buffer)."""
SILENT_PEAK = 64
"""An agent chunk whose samples all stay within this (-54 dBFS) is silence."""
TALKSPURT_HANGOVER = 25
"""Chunks (of 20 ms) of silence still sent after sound: pauses inside speech keep their
length, and only the silence between utterances is left to the phone."""


class Socket(Protocol):
    """The provider's side of the stream (an aiohttp websocket)."""

    async def send_str(self, data: str) -> None: ...

    async def close(self) -> bool: ...

    def __aiter__(self): ...


@dataclass
class LineStats:
    """What went over the line, logged when it ends."""

    caller_chunks: int = 0
    agent_chunks: int = 0
    heard_ms: int = 0
    """Agent audio the provider has confirmed played (its marks came back)."""
    clears: int = 0
    dropped_chunks: int = 0
    """Caller audio dropped before the line was in the room."""
    overflow_chunks: int = 0
    """Caller audio dropped in the call: more than `CALLER_BACKLOG` chunks waited for the
    room at once."""
    digits: list[str] = field(default_factory=list)
    ended_by: str = ""


class PhoneBridge:
    """Runs one stream until it ends; `run` returns then."""

    def __init__(self, socket: Socket, livekit_url: str) -> None:
        self.socket = socket
        self.livekit_url = livekit_url
        self.stats = LineStats()
        self.room = rtc.Room()
        self.stream: media.StreamStart | None = None
        self._rate = ROOM_SAMPLE_RATE
        self._source = rtc.AudioSource(self._rate, 1, queue_size_ms=ROOM_QUEUE_MS)
        self._resampler = (
            None
            if self._rate == media.SAMPLE_RATE
            else rtc.AudioResampler(media.SAMPLE_RATE, self._rate, quality=RESAMPLER_QUALITY)
        )
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._room_gone = asyncio.Event()
        self._live = False
        self._inbox: deque[bytes] = deque()
        self._inbox_ready = asyncio.Event()
        """Whether the caller's audio reaches the room (once it is joined and published)."""
        self._quiet_chunks = 0
        self._partial = np.zeros(0, dtype=np.int16)

    async def run(self) -> None:
        messages = aiter(self.socket)
        try:
            self.stream = await asyncio.wait_for(self._await_start(messages), START_TIMEOUT)
        except (TimeoutError, media.MediaProtocolError, StopAsyncIteration) as exc:
            logger.warning("stream refused before it started: %s", exc or type(exc).__name__)
            await self.socket.close()
            return
        token = self.stream.parameters.get("token")
        if not token:
            logger.warning("stream %s carries no call token", self.stream.stream_sid)
            await self.socket.close()
            return
        # The line is read from now on: the provider sends the caller's audio from the start,
        # and audio left to pile up while the room is joined would reach the room in one burst
        # and stay that far behind for the whole call (the source plays it at real time).
        reading = asyncio.ensure_future(self._read(messages))
        try:
            await self.join(token)
        except rtc.ConnectError as exc:
            logger.warning("stream %s could not join its room: %s", self.stream.stream_sid, exc)
            reading.cancel()
            await self.socket.close()
            return
        self._live = True
        self._spawn(self.pump_caller_audio())
        lost = await self.pump_caller(reading)
        await self.leave(lost)

    async def _await_start(self, messages) -> media.StreamStart:
        async for raw in messages:
            message = media.parse(raw.data)
            if message["event"] == "start":
                return media.start_of(message)
        raise StopAsyncIteration

    # --- the room side ---------------------------------------------------------------------------

    async def join(self, token: str) -> None:
        self.room.on("track_subscribed", self._on_track)
        self.room.on("data_received", self._on_data)
        self.room.on("disconnected", lambda *_: self._room_gone.set())
        self.room.on("participant_disconnected", self._on_participant_left)
        # The agent's transcription streams are for screens; a phone line has none.
        self.room.register_text_stream_handler(TRANSCRIPTION_TOPIC, lambda _reader, _who: None)
        await self.room.connect(self.livekit_url, token)
        track = rtc.LocalAudioTrack.create_audio_track("phone", self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)
        assert self.stream is not None
        logger.info(
            "phone line joined its room",
            extra={"room": self.room.name, "stream": self.stream.stream_sid},
        )

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(
        self,
        track: rtc.Track,
        _publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and _is_agent(participant):
            self._spawn(self.pump_agent(track))

    def _on_participant_left(self, participant: rtc.RemoteParticipant) -> None:
        if _is_agent(participant):
            self._room_gone.set()  # the agent hung up (or was lost): the line closes

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic != CONTROL_TOPIC or packet.participant is None:
            return
        try:
            command = json.loads(packet.data)
        except ValueError:
            return
        if isinstance(command, dict) and command.get("type") == "clear":
            self._spawn(self.clear())

    async def pump_agent(self, track: rtc.Track) -> None:
        """The agent's audio to the caller, 20 ms at a time as it arrives; silence only
        within a talkspurt (its pauses), so that the provider's queue is empty when the agent
        starts speaking and its first words are played at once."""
        assert self.stream is not None
        stream_sid = self.stream.stream_sid
        audio = rtc.AudioStream.from_track(
            track=track, sample_rate=media.SAMPLE_RATE, num_channels=1, frame_size_ms=20
        )
        try:
            async for event in audio:
                samples = np.frombuffer(event.frame.data, dtype=np.int16)
                if not self._in_talkspurt(samples):
                    continue
                await self._send(media.media(stream_sid, ulaw_encode(samples)))
                self.stats.agent_chunks += 1
                if self.stats.agent_chunks % MARK_EVERY == 0:
                    name = str(self.stats.agent_chunks * 20)
                    await self._send(media.mark(stream_sid, name))
        except ConnectionError:
            pass  # the line is gone; `run` ends the call
        finally:
            await audio.aclose()

    def _in_talkspurt(self, samples: np.ndarray) -> bool:
        """Whether a chunk of agent audio is sent: sound, or a pause of less than
        `TALKSPURT_HANGOVER` after sound (the phone plays silence on its own)."""
        if len(samples) and int(np.abs(samples).max()) > SILENT_PEAK:
            self._quiet_chunks = 0
            return True
        self._quiet_chunks += 1
        return self._quiet_chunks <= TALKSPURT_HANGOVER

    async def clear(self) -> None:
        """Drop the audio the provider has queued for the caller."""
        assert self.stream is not None
        self.stats.clears += 1
        with contextlib.suppress(ConnectionError):
            await self._send(media.clear(self.stream.stream_sid))

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self.socket.send_str(text)

    # --- the provider side -----------------------------------------------------------------------

    async def pump_caller(self, reading: asyncio.Future[bool]) -> bool:
        """The caller's audio, digits and marks until the stream or the room ends; whether the
        line was lost (closed without `stop`)."""
        gone = asyncio.ensure_future(self._room_gone.wait())
        waiting: set[asyncio.Future[Any]] = {reading, gone}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if reading in done:
            gone.cancel()
            return reading.result()
        reading.cancel()
        self.stats.ended_by = "room"
        return False

    async def _read(self, messages) -> bool:
        async for raw in messages:
            if not isinstance(raw.data, str):
                continue
            try:
                message = media.parse(raw.data)
                event = message["event"]
                if event == "media":
                    self._caller_audio(media.payload_of(message))
                elif event == "dtmf":
                    await self._digit(media.digit_of(message))
                elif event == "mark":
                    name = media.mark_name_of(message)
                    if name.isdigit():  # our marks are named by the audio sent before them
                        self.stats.heard_ms = max(self.stats.heard_ms, int(name))
                elif event == "stop":
                    self.stats.ended_by = "caller"
                    return False
            except media.MediaProtocolError as exc:
                logger.debug("ignored a message: %s", exc)
        self.stats.ended_by = "lost"
        return True

    def _caller_audio(self, ulaw: bytes) -> None:
        """Hand a chunk of the caller's audio to the room's pump. The provider sends it at
        the caller's real time whether or not the room takes it (before the line is in the
        room, or while the track is not flowing yet): audio kept then would delay every later
        word by as much for the rest of the call, so only the newest `CALLER_BACKLOG` chunks
        wait and older ones are dropped."""
        if not self._live:
            self.stats.dropped_chunks += 1
            return
        if len(self._inbox) >= CALLER_BACKLOG:
            self._inbox.popleft()
            self.stats.overflow_chunks += 1
        self._inbox.append(ulaw)
        self._inbox_ready.set()

    async def pump_caller_audio(self) -> None:
        """The caller's audio into the room, as fast as the room takes it."""
        while True:
            await self._inbox_ready.wait()
            while self._inbox:
                samples = ulaw_decode(self._inbox.popleft())
                frame = rtc.AudioFrame(samples.tobytes(), media.SAMPLE_RATE, 1, len(samples))
                self.stats.caller_chunks += 1
                frames = [frame] if self._resampler is None else self._resampler.push(frame)
                for at_room_rate in frames:
                    for tenth in self._tenths(at_room_rate):
                        await self._source.capture_frame(tenth)
            self._inbox_ready.clear()

    def _tenths(self, frame: rtc.AudioFrame) -> list[rtc.AudioFrame]:
        """`frame` as 10 ms frames; what is left over waits for the next one (the
        resampler's output is not always a whole number of them)."""
        samples = np.concatenate([self._partial, np.frombuffer(frame.data, dtype=np.int16)])
        step = self._rate // 100
        whole = len(samples) - len(samples) % step
        self._partial = samples[whole:]
        return [
            rtc.AudioFrame(samples[i : i + step].tobytes(), self._rate, 1, step)
            for i in range(0, whole, step)
        ]

    async def _digit(self, digit: str) -> None:
        self.stats.digits.append(digit)
        await self.room.local_participant.publish_dtmf(code=media.DTMF_CODES[digit], digit=digit)

    # --- the end ---------------------------------------------------------------------------------

    async def _say_lost(self) -> None:
        """Tell the room the line was lost, and wait until the room has it: attributes sent
        just before leaving would otherwise reach the others after the departure."""
        me = self.room.local_participant
        echoed = asyncio.Event()

        def on_changed(_changed: dict[str, str], participant: rtc.Participant) -> None:
            if participant.identity == me.identity and ENDED_ATTRIBUTE in participant.attributes:
                echoed.set()

        self.room.on("participant_attributes_changed", on_changed)
        try:
            await me.set_attributes({ENDED_ATTRIBUTE: "connection_lost"})
            await asyncio.wait_for(echoed.wait(), ATTRIBUTE_ECHO_TIMEOUT)
        except Exception as exc:  # leaving matters more; the call then reads as hung up
            logger.warning("could not mark the line as lost: %s", exc or type(exc).__name__)
        finally:
            self.room.off("participant_attributes_changed", on_changed)

    async def leave(self, lost: bool) -> None:
        if lost and self.room.isconnected():
            await self._say_lost()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.room.disconnect()
        with contextlib.suppress(Exception):
            await self.socket.close()
        await self._source.aclose()
        logger.info(
            "phone line closed",
            extra={
                "room": self.room.name,
                "ended_by": self.stats.ended_by,
                "caller_chunks": self.stats.caller_chunks,
                "agent_chunks": self.stats.agent_chunks,
                "heard_ms": self.stats.heard_ms,
                "clears": self.stats.clears,
                "dropped_chunks": self.stats.dropped_chunks,
                "overflow_chunks": self.stats.overflow_chunks,
            },
        )


ATTRIBUTE_ECHO_TIMEOUT = 1.0
"""Seconds the line waits for the room to confirm its last attributes before it leaves."""


def _is_agent(participant: rtc.RemoteParticipant) -> bool:
    return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
