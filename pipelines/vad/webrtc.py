"""VAD on Google's WebRTC voice activity detector (`webrtcvad`), as a livekit-agents VAD.

The detector classifies fixed 10/20/30 ms frames as voiced or not; a speech segment starts after
`min_speech_duration` of voiced frames and ends after `min_silence_duration` of unvoiced ones
(the hold). One frame takes microseconds, so inference runs inline on the event loop.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import webrtcvad
from livekit import rtc
from livekit.agents import vad

_INFERENCE_RATE = 16000


@dataclass(frozen=True)
class WebRTCVADOptions:
    """Detector settings."""

    aggressiveness: int = 2
    """0 (least aggressive about filtering non-speech) to 3 (most)."""
    frame_ms: int = 20
    """Analysis frame: 10, 20 or 30 ms."""
    min_speech_duration: float = 0.1
    min_silence_duration: float = 0.3
    prefix_padding_duration: float = 0.3
    """Audio kept before the detected start, so the STT hears the first phoneme."""
    max_buffered_speech: float = 60.0

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError("aggressiveness must be 0, 1, 2 or 3")
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("frame_ms must be 10, 20 or 30")


class WebRTCVAD(vad.VAD):
    """livekit-agents VAD backed by webrtcvad."""

    def __init__(self, options: WebRTCVADOptions | None = None) -> None:
        self._opts = options or WebRTCVADOptions()
        super().__init__(capabilities=vad.VADCapabilities(update_interval=self._opts.frame_ms / 1000))

    @property
    def model(self) -> str:
        return f"webrtcvad-{self._opts.aggressiveness}"

    @property
    def provider(self) -> str:
        return "webrtc"

    @property
    def options(self) -> WebRTCVADOptions:
        return self._opts

    def update_options(self, **changes: object) -> None:
        """Replace options; streams opened afterwards use them."""
        self._opts = dataclasses.replace(self._opts, **changes)  # type: ignore[arg-type]

    def stream(self) -> WebRTCVADStream:
        return WebRTCVADStream(self, self._opts)


class _Segmenter:
    """Pure state machine: voiced/unvoiced frames in, start/end decisions out."""

    def __init__(self, opts: WebRTCVADOptions) -> None:
        self.frame_s = opts.frame_ms / 1000
        self.opts = opts
        self.speaking = False
        self.voiced_run = 0.0
        self.unvoiced_run = 0.0
        self.speech_duration = 0.0
        self.silence_duration = 0.0

    def step(self, voiced: bool) -> vad.VADEventType | None:
        if self.speaking:
            self.speech_duration += self.frame_s
        else:
            self.silence_duration += self.frame_s
        if voiced:
            self.voiced_run += self.frame_s
            self.unvoiced_run = 0.0
            if not self.speaking and self.voiced_run >= self.opts.min_speech_duration - 1e-9:
                self.speaking = True
                self.silence_duration = 0.0
                self.speech_duration = self.voiced_run
                return vad.VADEventType.START_OF_SPEECH
        else:
            self.unvoiced_run += self.frame_s
            self.voiced_run = 0.0
            if self.speaking and self.unvoiced_run >= self.opts.min_silence_duration - 1e-9:
                self.speaking = False
                self.silence_duration = self.unvoiced_run
                return vad.VADEventType.END_OF_SPEECH
        return None


class WebRTCVADStream(vad.VADStream):
    """Per-track VAD stream: frames in, START/INFERENCE_DONE/END events out."""

    def __init__(self, owner: WebRTCVAD, opts: WebRTCVADOptions) -> None:
        self._opts = opts
        self._detector = webrtcvad.Vad(opts.aggressiveness)
        super().__init__(owner)

    async def _main_task(self) -> None:
        opts = self._opts
        frame_samples = _INFERENCE_RATE * opts.frame_ms // 1000
        seg = _Segmenter(opts)
        input_rate = 0
        resampler: rtc.AudioResampler | None = None
        pending = np.zeros(0, dtype=np.int16)  # inference-rate samples not yet analysed
        # Input-rate audio of the current segment (with prefix padding when idle).
        speech: list[np.ndarray] = []
        speech_samples = 0
        samples_index = 0

        def speech_frame() -> rtc.AudioFrame:
            data = np.concatenate(speech) if speech else np.zeros(0, dtype=np.int16)
            return rtc.AudioFrame(
                data=data.tobytes(),
                sample_rate=input_rate,
                num_channels=1,
                samples_per_channel=len(data),
            )

        def trim_to_padding() -> None:
            nonlocal speech, speech_samples
            keep = int(opts.prefix_padding_duration * input_rate)
            data = np.concatenate(speech)[-keep:] if speech and keep else np.zeros(0, np.int16)
            speech = [data]
            speech_samples = len(data)

        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                seg = _Segmenter(opts)
                pending = np.zeros(0, dtype=np.int16)
                speech, speech_samples = [], 0
                if resampler is not None:
                    resampler = rtc.AudioResampler(input_rate, _INFERENCE_RATE)
                continue
            frame = item
            if not input_rate:
                input_rate = frame.sample_rate
                if input_rate != _INFERENCE_RATE:
                    resampler = rtc.AudioResampler(
                        input_rate, _INFERENCE_RATE, quality=rtc.AudioResamplerQuality.QUICK
                    )
            elif frame.sample_rate != input_rate:
                continue  # one stream, one rate

            samples = np.frombuffer(frame.data, dtype=np.int16)
            if frame.num_channels > 1:
                samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
            if speech_samples < opts.max_buffered_speech * input_rate:
                speech.append(samples.copy())
                speech_samples += len(samples)

            if resampler is not None:
                mono = rtc.AudioFrame(samples.tobytes(), input_rate, 1, len(samples))
                parts = [np.frombuffer(f.data, np.int16) for f in resampler.push(mono)]
                inference = np.concatenate([pending, *parts]) if parts else pending
            else:
                inference = np.concatenate([pending, samples])

            offset = 0
            while len(inference) - offset >= frame_samples:
                window = inference[offset : offset + frame_samples]
                offset += frame_samples
                started = time.perf_counter()
                voiced = self._detector.is_speech(window.tobytes(), _INFERENCE_RATE)
                inference_duration = time.perf_counter() - started
                samples_index += frame_samples
                timestamp = samples_index / _INFERENCE_RATE
                transition = seg.step(voiced)
                self._event_ch.send_nowait(
                    vad.VADEvent(
                        type=vad.VADEventType.INFERENCE_DONE,
                        samples_index=samples_index,
                        timestamp=timestamp,
                        speech_duration=seg.speech_duration,
                        silence_duration=seg.silence_duration,
                        probability=1.0 if voiced else 0.0,
                        inference_duration=inference_duration,
                        speaking=seg.speaking,
                        raw_accumulated_speech=seg.voiced_run,
                        raw_accumulated_silence=seg.unvoiced_run,
                    )
                )
                if transition is vad.VADEventType.START_OF_SPEECH:
                    self._event_ch.send_nowait(
                        vad.VADEvent(
                            type=transition,
                            samples_index=samples_index,
                            timestamp=timestamp,
                            speech_duration=seg.speech_duration,
                            silence_duration=0.0,
                            frames=[speech_frame()],
                            speaking=True,
                        )
                    )
                elif transition is vad.VADEventType.END_OF_SPEECH:
                    self._event_ch.send_nowait(
                        vad.VADEvent(
                            type=transition,
                            samples_index=samples_index,
                            timestamp=timestamp,
                            speech_duration=max(0.0, seg.speech_duration - seg.silence_duration),
                            silence_duration=seg.silence_duration,
                            frames=[speech_frame()],
                            speaking=False,
                        )
                    )
                    seg.speech_duration = 0.0
                    trim_to_padding()
                elif not seg.speaking:
                    trim_to_padding()
            pending = inference[offset:].copy()
