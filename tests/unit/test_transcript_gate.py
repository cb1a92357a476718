"""The turn's end waits for the transcript of the words before it (`pipelines.transcript_gate`)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from livekit.agents import stt, vad
from livekit.agents.types import NOT_GIVEN

from livekit_patches.segmented_stt import SegmentedSTT
from pipelines.stt import WhisperSTT
from pipelines.transcript_gate import (
    GatedVAD,
    ReportingSTT,
    TranscriptGate,
    gate_of,
    mark_gate,
)
from pipelines.vad import WebRTCVAD, WebRTCVADOptions

START = vad.VADEventType.START_OF_SPEECH
END = vad.VADEventType.END_OF_SPEECH
HOLD = 0.3


async def test_gate_is_settled_until_a_segment_opens_and_after_it_resolves():
    gate = TranscriptGate(max_wait=5.0)
    assert await gate.settled() == 0.0

    gate.opened()
    gate.opened()
    waiting = asyncio.create_task(gate.settled())
    gate.resolved()
    assert gate.pending == 1
    done, _ = await asyncio.wait({waiting}, timeout=0.1)
    assert not done, "one of two segments is still being recognised"
    gate.resolved()
    assert await waiting >= 0.0
    assert gate.pending == 0

    gate.resolved()  # a stray result never makes the count negative
    assert gate.pending == 0
    assert await gate.settled() == 0.0


async def test_gate_stops_waiting_for_a_lost_transcript():
    gate = TranscriptGate(max_wait=0.1)
    gate.opened()
    waited = await gate.settled()
    assert 0.1 <= waited < 1.0
    assert gate.pending == 0, "a lost result must not hold the next turns"
    assert await gate.settled() == 0.0


async def collect(stream: vad.VADStream, seen: list[tuple[float, vad.VADEvent]]) -> None:
    async for ev in stream:
        if ev.type is not vad.VADEventType.INFERENCE_DONE:
            seen.append((time.monotonic(), ev))


def gated_stream(gate: TranscriptGate, signal, audio_tools) -> vad.VADStream:
    inner = WebRTCVAD(WebRTCVADOptions(min_silence_duration=HOLD))
    gated = GatedVAD(inner, gate)
    assert gate_of(gated) is gate and gate_of(inner) is None
    assert gated.capabilities == inner.capabilities and gated.model == inner.model
    stream = gated.stream()
    for i in range(0, len(signal.samples), signal.rate // 100):
        stream.push_frame(audio_tools.to_frame(signal.samples[i : i + signal.rate // 100], 16000))
    stream.end_input()
    return stream


async def test_end_of_speech_waits_for_the_pending_transcript(signal, audio_tools):
    sig = signal(rate=16000, trail=1.0)
    gate = TranscriptGate(max_wait=10.0)
    gate.opened()  # the STT's segment of this speech is still being recognised
    seen: list[tuple[float, vad.VADEvent]] = []
    stream = gated_stream(gate, sig, audio_tools)
    consumer = asyncio.create_task(collect(stream, seen))

    # The VAD analyses the pushed audio in milliseconds; its END is held by the gate.
    release = asyncio.get_running_loop().call_later(0.4, gate.resolved)
    released_at = time.monotonic() + 0.4
    await consumer
    release.cancel()
    await stream.aclose()

    assert [ev.type for _, ev in seen] == [START, END]
    ended_at, end = seen[1]
    assert ended_at >= released_at - 0.01, "END reached the session before the transcript"
    # its silence counts the wait, so the turn still dates the caller's last word
    assert end.silence_duration >= HOLD + 0.3


async def test_end_of_speech_passes_at_once_when_nothing_is_pending(signal, audio_tools):
    sig = signal(rate=16000, trail=1.0)
    seen: list[tuple[float, vad.VADEvent]] = []
    stream = gated_stream(TranscriptGate(max_wait=10.0), sig, audio_tools)
    started = time.monotonic()
    await collect(stream, seen)
    await stream.aclose()
    assert [ev.type for _, ev in seen] == [START, END]
    assert seen[1][0] - started < 5.0
    assert seen[1][1].silence_duration < HOLD + 0.1


async def test_reporting_stt_reports_empty_recognitions_only(whisper_handle, audio_tools, signal):
    empties: list[int] = []
    recognizer = ReportingSTT(WhisperSTT(whisper_handle), on_empty=lambda: empties.append(1))
    assert recognizer.label == WhisperSTT(whisper_handle).label

    silent = await recognizer.recognize(audio_tools.to_frame(np.zeros(16000, np.int16), 16000))
    assert silent.alternatives[0].text == ""
    assert empties == [1]

    sig = signal(rate=16000)
    spoken = await recognizer.recognize(audio_tools.to_frame(sig.samples, 16000))
    assert spoken.alternatives[0].text
    assert empties == [1]


async def test_webrtc_start_is_not_reported_twice(signal, audio_tools):
    """Our WebRTC VAD's inference event already reports the speech its window starts, so the
    gate adds no second one (that is for Silero, `tests/unit/test_factory.py`)."""
    sig = signal(rate=16000, trail=1.0)
    stream = gated_stream(TranscriptGate(), sig, audio_tools)
    events = [ev async for ev in stream]
    await stream.aclose()
    i = next(i for i, ev in enumerate(events) if ev.type is START)
    at_start = [ev for ev in events if ev.samples_index == events[i].samples_index]
    assert [ev.type for ev in at_start] == [vad.VADEventType.INFERENCE_DONE, START]
    assert at_start[0].speaking and at_start[0].speech_duration >= 0.1 - 1e-9


async def test_the_gated_stream_hands_frames_straight_to_the_inner_one(signal, audio_tools):
    """Frames, flushes and the end of input reach the inner stream as they are pushed (no
    hop through a channel of the gated stream): a flush mid-speech starts a fresh segment,
    and input pushed after the end is refused."""
    sig = signal(rate=16000, trail=1.0)
    gated = GatedVAD(WebRTCVAD(WebRTCVADOptions(min_silence_duration=HOLD)), TranscriptGate())
    stream = gated.stream()
    inner = stream._inner
    frame = sig.rate // 100
    cut = len(sig.samples) // 3  # inside the phrase
    for i in range(0, cut, frame):
        stream.push_frame(audio_tools.to_frame(sig.samples[i : i + frame], 16000))
    assert len(inner._input_ch._queue) == -(-cut // frame)  # already in the inner stream's input
    stream.flush()
    for i in range(cut, len(sig.samples), frame):
        stream.push_frame(audio_tools.to_frame(sig.samples[i : i + frame], 16000))
    stream.end_input()
    with pytest.raises(RuntimeError, match="input ended"):
        stream.push_frame(audio_tools.to_frame(sig.samples[:frame], 16000))
    events = [ev async for ev in stream]
    await stream.aclose()
    kinds = [ev.type for ev in events if ev.type is not vad.VADEventType.INFERENCE_DONE]
    assert kinds == [START, START, END]  # the flush dropped the first segment's state


class ScriptedVAD(vad.VAD):
    """A segmenter whose decisions the test makes: `stream.decide(START)`."""

    def __init__(self) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=0.02))
        self.streams: list[ScriptedVADStream] = []

    def stream(self) -> ScriptedVADStream:
        stream = ScriptedVADStream(self)
        self.streams.append(stream)
        return stream


class ScriptedVADStream(vad.VADStream):
    async def _main_task(self) -> None:
        async for _ in self._input_ch:
            pass

    def decide(self, kind: vad.VADEventType, frame) -> None:
        self._event_ch.send_nowait(
            vad.VADEvent(
                type=kind,
                samples_index=0,
                timestamp=0.0,
                speech_duration=0.5,
                silence_duration=0.0 if kind is START else 0.15,
                frames=[frame],
            )
        )


class SlowRecognizer(stt.STT):
    """Each recognition waits until the test finishes it: `finish(text)`, in order."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.calls: list[asyncio.Future[str]] = []

    async def _recognize_impl(self, buffer, *, language=NOT_GIVEN, conn_options=None):
        done = asyncio.get_running_loop().create_future()
        self.calls.append(done)
        text = await done
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language="en", text=text)],
        )


async def until(condition, what: str) -> None:
    """Let the loop run until `condition()` holds (the test's events need no clock)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never: {what}")


async def test_a_segment_cut_while_the_previous_is_recognised_holds_the_gate(audio_tools):
    """The words after a pause are their own segment, cut while the recogniser still works on
    the words before it. The gate counts that segment from when it is cut: the first
    transcript alone does not let the end of the turn through."""
    gate = TranscriptGate(max_wait=10.0)
    segmenter, recognizer = ScriptedVAD(), SlowRecognizer()
    stream = SegmentedSTT(stt=recognizer, vad=segmenter).stream()
    stream.push_frame(audio_tools.to_frame(np.zeros(160, np.int16), 16000))
    finals: list[str] = []

    async def session() -> None:  # what `VoiceAgent.stt_node` does with the events
        async for ev in stream:
            mark_gate(gate, ev)
            if ev.type is stt.SpeechEventType.FINAL_TRANSCRIPT:
                finals.append(ev.alternatives[0].text)

    consumer = asyncio.create_task(session())
    await until(lambda: segmenter.streams, "the segmenter's stream")
    segments = segmenter.streams[0]
    frame = audio_tools.to_frame(np.ones(1600, np.int16), 16000)

    segments.decide(START, frame)  # "I would like to order a cake"
    segments.decide(END, frame)
    await until(lambda: len(recognizer.calls) == 1, "the first recognition")
    segments.decide(START, frame)  # "for my sister", after the pause
    segments.decide(END, frame)
    await until(lambda: gate.pending == 2, "both segments counted")

    recognizer.calls[0].set_result("I would like to order a cake.")
    await until(lambda: finals, "the first transcript")
    assert gate.pending == 1, "the second segment is still being recognised"
    turn_end = asyncio.create_task(gate.settled())
    await until(lambda: len(recognizer.calls) == 2, "the second recognition")
    assert not turn_end.done(), "the turn ended before its last words were transcribed"

    recognizer.calls[1].set_result("for my sister")
    await turn_end
    assert finals == ["I would like to order a cake.", "for my sister"]
    assert gate.pending == 0
    consumer.cancel()
    await stream.aclose()


async def test_the_gated_vad_knows_how_long_the_caller_has_been_silent(signal, audio_tools):
    """What lets a reply paused by a backchannel resume early: 0 while the caller speaks,
    the silence since the last speech after."""
    sig = signal(rate=16000, trail=1.0)
    gate = TranscriptGate()
    gated = GatedVAD(WebRTCVAD(WebRTCVADOptions(min_silence_duration=HOLD)), gate)
    stream = gated.stream()
    step = sig.rate // 100
    speech_middle = int((sig.speech_start + sig.speech_duration / 2) * sig.rate)
    silences: list[float] = []
    for i in range(0, speech_middle, step):
        stream.push_frame(audio_tools.to_frame(sig.samples[i : i + step], 16000))
    # read until the VAD has scored the last pushed window: speaking
    async for ev in stream:
        if ev.type is vad.VADEventType.INFERENCE_DONE and ev.samples_index >= speech_middle - step:
            silences.append(gated.caller_silence())
            break
    for i in range(speech_middle, len(sig.samples), step):
        stream.push_frame(audio_tools.to_frame(sig.samples[i : i + step], 16000))
    stream.end_input()
    async for _ in stream:
        pass
    silences.append(gated.caller_silence())
    await stream.aclose()
    assert silences[0] == 0.0
    trail = sig.duration - sig.speech_end
    assert trail - 0.2 <= silences[1] <= trail + 1.0, silences  # VAD frames: 20 ms
