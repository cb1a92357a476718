"""The caller's audio: the microphone it speaks into and the listener that records the agent's
track with arrival times and finds the agent's speech in it."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from typing import Any

import numpy as np
from livekit import rtc

from ..audio import CALLER_RATE, FRAME_MS, frame_rms_dbfs
from .script import AgentSpeech

AGENT_LEVEL_DBFS = -45.0
"""A received 10 ms frame louder than this is agent speech."""
STOP_QUIET = 0.5
"""Quiet that counts as the agent having stopped (longer than its pauses between words)."""
BACKOFF_DB = 12.0
"""A drop below the reply's loudest frame before the onset that counts as the agent backing
off (its voice lowered or stopped), when it lasts `STOP_QUIET`."""


def backed_off(
    times: np.ndarray, levels: np.ndarray, onset: float, frame_ms: int = FRAME_MS
) -> float | None:
    """Seconds from the onset until the agent's voice stays `BACKOFF_DB` below its loudest
    frame of the second before the onset for `STOP_QUIET` (lowered or silent): what the
    caller hears of a barge-in when the agent ducks its voice before it stops."""
    before = levels[(times > onset - 1.0) & (times <= onset)]
    if not len(before):
        return None
    limit = float(before.max()) - BACKOFF_DB
    after = np.flatnonzero(times > onset)
    low = levels[after] <= limit
    span = max(1, round(STOP_QUIET * 1000 / frame_ms))
    run = 0
    for k, is_low in enumerate(low):
        run = run + 1 if is_low else 0
        if run >= span:
            return float(times[after[k - span + 1]]) - onset
    return None


class Microphone:
    """Publishes a continuous 48 kHz mono track: queued utterances, silence otherwise."""

    def __init__(self, room: rtc.Room, frame_ms: int = FRAME_MS) -> None:
        self._room = room
        self.frame_ms = frame_ms
        # A short queue keeps "handed to WebRTC" within a frame or two of "sent".
        self._source = rtc.AudioSource(CALLER_RATE, 1, queue_size_ms=max(20, 2 * frame_ms))
        self._step = CALLER_RATE * frame_ms // 1000
        self._pending: asyncio.Queue[tuple[np.ndarray, asyncio.Future[list[float]]]] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        track = rtc.LocalAudioTrack.create_audio_track("caller-mic", self._source)
        opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self._room.local_participant.publish_track(track, opts)
        self._task = asyncio.create_task(self._pump(), name="caller-mic")

    async def say(self, audio: np.ndarray) -> list[float]:
        """Play `audio`; returns the send time (monotonic) of each of its frames."""
        done: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        await self._pending.put((audio, done))
        return await done

    async def _pump(self) -> None:
        silence = np.zeros(self._step, np.int16)
        while True:
            try:
                audio, done = self._pending.get_nowait()
            except asyncio.QueueEmpty:
                await self._send(silence)
                continue
            sent_at: list[float] = []
            for i in range(0, len(audio), self._step):
                chunk = audio[i : i + self._step]
                if len(chunk) < self._step:
                    chunk = np.concatenate([chunk, silence[: self._step - len(chunk)]])
                await self._send(chunk)
                sent_at.append(time.monotonic())
            if not done.done():
                done.set_result(sent_at)

    async def _send(self, chunk: np.ndarray) -> None:
        frame = rtc.AudioFrame(chunk.tobytes(), CALLER_RATE, 1, len(chunk))
        await self._source.capture_frame(frame)

    async def aclose(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._source.aclose()


_NO_AUDIO = np.zeros(0, np.int16)


class AgentListener:
    """Records the agent's audio track with arrival times and finds its speech."""

    def __init__(self, keep_audio: bool = True, frame_ms: int = FRAME_MS) -> None:
        self._keep_audio = keep_audio
        self._frame_ms = frame_ms
        self._times: list[float] = []
        self._loud: list[bool] = []
        self._levels: list[float] = []  # dBFS of each frame
        self._chunks: list[np.ndarray] = []
        self._last_loud = -1  # index of the latest audible frame
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self.joined_at: float | None = None

    def attach(self, room: rtc.Room) -> None:
        room.on("track_subscribed", self._on_track)

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        is_agent = who.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        if track.kind != rtc.TrackKind.KIND_AUDIO or not is_agent:
            return
        self.joined_at = self.joined_at or time.monotonic()
        task = asyncio.create_task(self._record(track), name="agent-audio")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream.from_track(
            track=track, sample_rate=CALLER_RATE, num_channels=1, frame_size_ms=self._frame_ms
        )
        try:
            async for ev in stream:
                samples = np.frombuffer(ev.frame.data, np.int16).copy()
                level = frame_rms_dbfs(samples)
                loud = level > AGENT_LEVEL_DBFS
                async with self._changed:
                    self._times.append(time.monotonic())
                    self._loud.append(loud)
                    self._levels.append(level)
                    self._chunks.append(samples if self._keep_audio else _NO_AUDIO)
                    if loud:
                        self._last_loud = len(self._loud) - 1
                    self._changed.notify_all()
        finally:
            await stream.aclose()

    async def next_speech(
        self, *, after: float, start_timeout: float, end_silence: float, max_duration: float = 60
    ) -> AgentSpeech | None:
        """The first agent speech arriving after `after`, ended by `end_silence` of quiet.

        Returns None if nothing audible arrives within `start_timeout` seconds.
        """
        deadline = time.monotonic() + start_timeout
        start_idx = await self._wait_for(lambda: self._first_loud_after(after), deadline)
        if start_idx is None:
            return None
        started_at = self._times[start_idx]
        hard_stop = started_at + max_duration

        def ended() -> int | None:
            last = self._last_loud_from(start_idx)
            now = time.monotonic()
            if now - self._times[last] >= end_silence or now >= hard_stop:
                return last
            return None

        end_idx = await self._wait_for(ended, hard_stop + end_silence, poll=0.05)
        if end_idx is None:
            end_idx = self._last_loud_from(start_idx)
        audio = np.concatenate(self._chunks[start_idx : end_idx + 1])
        return AgentSpeech(started_at, self._times[end_idx] + self._frame_ms / 1000, audio)

    async def speech_start(self, *, after: float, within: float) -> float | None:
        """When the first audible agent audio after `after` arrived (None: none in time)."""
        idx = await self._wait_for(lambda: self._first_loud_after(after), time.monotonic() + within)
        return self._times[idx] if idx is not None else None

    async def quiet_from(self, *, after: float, quiet: float, within: float) -> float | None:
        """Arrival of the first frame after `after` that starts `quiet` s without agent
        sound: where its audio stopped (None: it kept talking for `within` s)."""
        need = max(1, round(quiet * 1000 / self._frame_ms))

        def probe() -> float | None:
            run = 0
            for i in range(bisect.bisect_right(self._times, after), len(self._times)):
                run = 0 if self._loud[i] else run + 1
                if run >= need:
                    return self._times[i - need + 1]
            return None

        return await self._wait_for(probe, time.monotonic() + within, poll=0.05)

    def backed_off_at(self, onset: float) -> float | None:
        """When the agent's voice backed off after `onset` (`backed_off`), as it arrived."""
        n = min(len(self._times), len(self._levels))
        times = np.array(self._times[:n])
        delay = backed_off(times, np.array(self._levels[:n]), onset, self._frame_ms)
        return None if delay is None else onset + delay

    def audible_between(self, start: float, end: float) -> bool:
        """Whether any agent audio frame that arrived in (start, end] was audible."""
        lo = bisect.bisect_right(self._times, start)
        hi = bisect.bisect_right(self._times, end)
        return any(self._loud[lo:hi])

    def _first_loud_after(self, t: float) -> int | None:
        for i in range(len(self._times) - 1, -1, -1):
            if self._times[i] <= t:
                break
        else:
            i = -1
        for j in range(i + 1, len(self._times)):
            if self._loud[j]:
                return j
        return None

    def _last_loud_from(self, start: int) -> int:
        return max(start, self._last_loud)

    async def _wait_for(self, probe: Any, deadline: float, poll: float | None = None) -> Any:
        """Re-evaluate `probe` on each received frame (or every `poll` s) until it answers."""
        while True:
            result = probe()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait = min(remaining, poll) if poll else remaining
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
