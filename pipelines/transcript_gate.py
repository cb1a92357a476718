"""Hold the end of the caller's turn until the words before it are transcribed.

A batch recogniser (Whisper, or a cloud STT without streaming) transcribes each segment its
segmenter cuts. The turn VAD's hold is longer than the segmenter's, so recognition usually
finishes inside the hold; but on a loaded machine (or a slow provider) the last segment's
transcript can arrive after the turn VAD has ended the turn. livekit-agents then commits the
turn without those words and treats them as a new turn: the caller gets two answers, the
first to half a sentence.

`TranscriptGate` counts segments whose transcript is not in yet; `GatedVAD` wraps the turn
VAD and delays its end-of-speech event until the gate is settled (at most `max_wait`), with
the event's silence extended by the wait, so the turn's timing still dates the caller's last
word. The STT side marks the gate (`mark_gate`): a segment opens at the STT's start of speech,
which `livekit_patches.segmented_stt` reports as soon as its segmenter cuts the segment, and
resolves with its final transcript or with an empty recognition (`ReportingSTT`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Protocol

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

logger = logging.getLogger("pipelines.transcript_gate")

MAX_WAIT = 2.0
"""Seconds the end of a turn may wait for a transcript; a lost result (a provider failure
mid-segment) then stops holding turns."""


class TranscriptGate:
    """Segments of the caller's speech still waiting for their transcript."""

    def __init__(self, max_wait: float = MAX_WAIT) -> None:
        self.max_wait = max_wait
        self.agent_speaking: Callable[[], bool] = lambda: False
        """Whether the agent is speaking, as the session's agent tells it: what the caller
        says meanwhile is recognised expecting a backchannel."""
        self._pending = 0
        self._settled = asyncio.Event()
        self._settled.set()

    @property
    def pending(self) -> int:
        return self._pending

    def opened(self) -> None:
        """The STT started a segment of speech."""
        self._pending += 1
        self._settled.clear()

    def resolved(self) -> None:
        """A segment's transcript arrived (or it had none)."""
        self._pending = max(0, self._pending - 1)
        if not self._pending:
            self._settled.set()

    async def settled(self) -> float:
        """Wait until no segment is pending (at most `max_wait`); the seconds waited."""
        if self._settled.is_set():
            return 0.0
        start = time.monotonic()
        try:
            await asyncio.wait_for(self._settled.wait(), self.max_wait)
        except TimeoutError:
            logger.warning(
                "no transcript for %d segment(s) after %.1f s; ending the turn without it",
                self._pending,
                self.max_wait,
            )
            self._pending = 0
            self._settled.set()
        return time.monotonic() - start


def mark_gate(gate: TranscriptGate, ev: stt.SpeechEvent) -> None:
    """Count the segment a speech event of the session's STT starts or resolves."""
    if ev.type == stt.SpeechEventType.START_OF_SPEECH:
        gate.opened()
    elif ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
        gate.resolved()


def gate_of(turn_vad: vad.VAD | None) -> TranscriptGate | None:
    """The gate of a session's turn VAD, when it has one."""
    return turn_vad.gate if isinstance(turn_vad, GatedVAD) else None


def caller_silence_of(turn_vad: vad.VAD | None) -> float:
    """`GatedVAD.caller_silence` of a session's turn VAD; 0 (speaking, as far as is known)
    for any other VAD."""
    return turn_vad.caller_silence() if isinstance(turn_vad, GatedVAD) else 0.0


class _Named(Protocol):
    @property
    def model(self) -> str: ...

    @property
    def provider(self) -> str: ...


class _NamedAfterInner:
    """A wrapper that reports the model and provider of the one it wraps."""

    inner: _Named

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def provider(self) -> str:
        return self.inner.provider


class GatedVAD(_NamedAfterInner, vad.VAD):
    """`inner`, with its end-of-speech events held until `gate` is settled, and each start of
    speech followed by an inference event that reports it when `inner` did not
    (`speech_started`)."""

    inner: vad.VAD

    def __init__(self, inner: vad.VAD, gate: TranscriptGate) -> None:
        super().__init__(capabilities=inner.capabilities)
        self.inner = inner
        self.gate = gate
        self._label = inner._label
        self._silence: tuple[float, float] = (time.monotonic(), 0.0)
        """(when, the caller's silence then) from the latest inference: `caller_silence`."""

    def stream(self) -> vad.VADStream:
        return _GatedVADStream(self)

    def caller_silence(self) -> float:
        """Seconds the caller has been silent, as the VAD last scored it (0: speaking)."""
        when, silence = self._silence
        return silence + time.monotonic() - when if silence > 0 else 0.0

    def _scored(self, ev: vad.VADEvent) -> None:
        self._silence = (time.monotonic(), ev.raw_accumulated_silence)


class _GatedVADStream(vad.VADStream):
    """Frames go straight into the inner stream (not through a channel and a task of this
    one: a hop per 20 ms frame); its events come out here."""

    def __init__(self, owner: GatedVAD) -> None:
        self._owner = owner
        self._inner = owner.inner.stream()
        super().__init__(owner)

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        self._check_input_not_ended()
        self._check_not_closed()
        self._inner.push_frame(frame)

    def flush(self) -> None:
        self._check_input_not_ended()
        self._check_not_closed()
        self._inner.flush()

    def end_input(self) -> None:
        self._inner.end_input()
        self._input_ch.close()

    async def _main_task(self) -> None:
        last_done: vad.VADEvent | None = None
        try:
            async for ev in self._inner:
                if ev.type == vad.VADEventType.END_OF_SPEECH:
                    waited = await self._owner.gate.settled()
                    if waited:
                        # the caller's last word is as long ago as it was, plus the wait
                        ev = dataclasses.replace(ev, silence_duration=ev.silence_duration + waited)
                self._event_ch.send_nowait(ev)
                if ev.type == vad.VADEventType.INFERENCE_DONE:
                    last_done = ev
                    self._owner._scored(ev)
                elif ev.type == vad.VADEventType.START_OF_SPEECH and (
                    started := speech_started(last_done, ev)
                ):
                    self._event_ch.send_nowait(started)
        finally:
            await self._inner.aclose()


def speech_started(done: vad.VADEvent | None, start: vad.VADEvent) -> vad.VADEvent | None:
    """The inference event of the window that started speech, again, as of that start.

    Silero sends a window's inference event before it decides that the window starts speech,
    so that event reports no speech, and livekit-agents, which pauses the agent when an
    inference event's speech time reaches the minimum interruption, would learn of the start
    one window (32 ms) later. None when the window's event already reported it (our WebRTC
    VAD decides first) or is not the start's."""
    if done is None or done.speaking or done.samples_index != start.samples_index:
        return None
    return dataclasses.replace(
        done,
        speech_duration=start.speech_duration,
        silence_duration=0.0,
        speaking=True,
        frames=[],  # the window's audio went with the first event
        inference_duration=0.0,
        raw_accumulated_speech=start.speech_duration,
        raw_accumulated_silence=0.0,
    )


class ReportingSTT(_NamedAfterInner, stt.STT):
    """A batch recogniser that reports empty results (a segment that was a cough or noise):
    livekit's StreamAdapter emits nothing for them, so the gate would wait for a transcript
    that never comes."""

    inner: stt.STT

    def __init__(self, inner: stt.STT, on_empty: Callable[[], None]) -> None:
        super().__init__(capabilities=inner.capabilities)
        self.inner = inner
        self._on_empty = on_empty
        self._label = inner.label

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        ev = await self.inner._recognize_impl(buffer, language=language, conn_options=conn_options)
        if not (ev.alternatives and ev.alternatives[0].text):
            self._on_empty()
        return ev

    async def aclose(self) -> None:
        await self.inner.aclose()
