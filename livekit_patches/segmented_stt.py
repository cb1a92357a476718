"""livekit's `stt.StreamAdapter`, with each segment's start of speech reported when its VAD
cuts it.

livekit's adapter handles one segment at a time: while the recogniser works on the words
before a pause, the start of the words after it waits behind that recognition. A caller that
counts segments from their start (the transcript gate, `pipelines.transcript_gate`) then sees
nothing pending once the first transcript is in, and a turn can end without the words after
the pause. Here the segmenter's events go out as it decides them; recognitions still run one
at a time, in order. The stream reimplements `StreamAdapterWrapper._run` on its private state.
"""

from __future__ import annotations

import asyncio
import logging
import time

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.stt.stream_adapter import StreamAdapterWrapper
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from . import WrittenFor

logger = logging.getLogger("livekit_patches.segmented_stt")

WRITTEN_FOR = WrittenFor("livekit-agents", "1.8.9")
"""The release whose `StreamAdapterWrapper` this module follows."""


def segmented_stt(recognizer: stt.STT, segmenter: vad.VAD) -> stt.StreamAdapter:
    """`recognizer` behind `segmenter`, reporting segment starts as they are cut (livekit's own
    adapter on another livekit-agents release)."""
    if not WRITTEN_FOR.applies("reporting segment starts as they are cut"):
        return stt.StreamAdapter(stt=recognizer, vad=segmenter)
    return SegmentedSTT(stt=recognizer, vad=segmenter)


class SegmentedSTT(stt.StreamAdapter):
    """livekit's `stt.StreamAdapter`, with each segment's start of speech reported when its
    VAD cuts it.

    livekit's adapter handles one segment at a time: while the recogniser works on the words
    before a pause, the start of the words after it waits behind that recognition, and the
    gate, which counts segments from their start, sees nothing pending once the first
    transcript is in. If the turn VAD has already ended the turn, the turn then ends without
    the words after the pause (and they become a turn of their own). Here the segmenter's
    events go out as it decides them; recognitions still run one at a time, in order.
    """

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return _SegmentedStream(
            self, vad=self._vad, wrapped_stt=self._stt, language=language, conn_options=conn_options
        )


class _SegmentedStream(StreamAdapterWrapper):
    async def _run(self) -> None:
        vad_stream = self._vad.stream()
        cut: utils.aio.Chan[tuple[list[rtc.AudioFrame], float]] = utils.aio.Chan()

        async def forward_input() -> None:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                else:
                    vad_stream.push_frame(item)
            vad_stream.end_input()

        async def segment() -> None:
            try:
                async for ev in vad_stream:
                    if ev.type == vad.VADEventType.START_OF_SPEECH:
                        self._event_ch.send_nowait(
                            stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH)
                        )
                    elif ev.type == vad.VADEventType.END_OF_SPEECH:
                        speech_end_time = time.time() - ev.silence_duration - ev.inference_duration
                        self._event_ch.send_nowait(
                            stt.SpeechEvent(
                                stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end_time
                            )
                        )
                        cut.send_nowait((ev.frames, speech_end_time))
            finally:
                cut.close()

        async def recognize() -> None:
            async for frames, speech_end_time in cut:
                buffer = utils.merge_frames(frames)
                began = time.monotonic()
                result = await self._wrapped_stt.recognize(
                    buffer=buffer,
                    language=self._language,
                    conn_options=self._wrapped_stt_conn_options,
                )
                logger.debug(
                    "segment of %.2f s recognised in %.2f s, %.2f s after its end",
                    buffer.duration,
                    time.monotonic() - began,
                    time.time() - speech_end_time,
                    extra={
                        "lk.pii.user_transcript": result.alternatives[0].text
                        if result.alternatives
                        else ""
                    },
                )
                if not (result.alternatives and result.alternatives[0].text):
                    continue
                self._event_ch.send_nowait(
                    stt.SpeechEvent(
                        type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                        alternatives=[result.alternatives[0]],
                        speech_end_time=(
                            result.speech_end_time
                            if result.speech_end_time is not None
                            else speech_end_time
                        ),
                    )
                )

        tasks = [
            asyncio.create_task(forward_input(), name="segmented-stt-input"),
            asyncio.create_task(segment(), name="segmented-stt-segment"),
            asyncio.create_task(recognize(), name="segmented-stt-recognize"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks)
            await vad_stream.aclose()
