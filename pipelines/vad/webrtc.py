"""VAD on Google's WebRTC voice activity detector (`webrtcvad`), as a livekit-agents VAD.

The detector classifies fixed 10/20/30 ms frames as voiced or not; a speech segment starts after
`min_speech_duration` of voiced frames and ends after `min_silence_duration` of unvoiced ones
(the hold). One frame takes microseconds, so inference runs inline on the event loop.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Iterator
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
    inference_events: bool = True
    """An INFERENCE_DONE event per frame (what livekit-agents' interruptions read); a VAD
    that only cuts segments (the STT's segmenter) sends starts and ends alone."""

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError("aggressiveness must be 0, 1, 2 or 3")
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("frame_ms must be 10, 20 or 30")


class WebRTCVAD(vad.VAD):
    """livekit-agents VAD backed by webrtcvad."""

    def __init__(self, options: WebRTCVADOptions | None = None) -> None:
        self._opts = options or WebRTCVADOptions()
        interval = self._opts.frame_ms / 1000
        super().__init__(capabilities=vad.VADCapabilities(update_interval=interval))

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
        self.voiced_duration = 0.0
        """Voiced time of the current speech: what interruption thresholds compare to."""
        self.silence_duration = 0.0

    def step(self, voiced: bool) -> vad.VADEventType | None:
        if self.speaking:
            self.speech_duration += self.frame_s
        else:
            self.silence_duration += self.frame_s
        if voiced:
            self.voiced_run += self.frame_s
            self.unvoiced_run = 0.0
            if self.speaking:
                self.voiced_duration += self.frame_s
            elif self.voiced_run >= self.opts.min_speech_duration - 1e-9:
                self.speaking = True
                self.silence_duration = 0.0
                self.speech_duration = self.voiced_duration = self.voiced_run
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

    WARMUP_FRAMES = 7
    """A fresh webrtcvad detector calls its first 4-6 frames of any non-zero audio speech while
    its noise model adapts; those decisions are ignored."""

    def __init__(self, owner: WebRTCVAD, opts: WebRTCVADOptions) -> None:
        self._opts = opts
        super().__init__(owner)

    async def _main_task(self) -> None:
        opts = self._opts
        frame_samples = _INFERENCE_RATE * opts.frame_ms // 1000
        input_rate = 0
        samples_index = 0
        state = _StreamState(opts, frame_samples, input_rate)

        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                state = _StreamState(opts, frame_samples, input_rate)
                continue
            frame = item
            if not input_rate:
                input_rate = frame.sample_rate
                state = _StreamState(opts, frame_samples, input_rate)
            elif frame.sample_rate != input_rate:
                continue  # one stream, one rate
            samples = np.frombuffer(frame.data, dtype=np.int16)
            if frame.num_channels > 1:
                samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
            for voiced, duration in state.analyse(samples):
                samples_index += frame_samples
                self._emit(state, voiced, duration, samples_index)

    def _emit(self, state: _StreamState, voiced: bool, duration: float, index: int) -> None:
        seg = state.segmenter
        timestamp = index / _INFERENCE_RATE
        transition = seg.step(voiced)
        if self._opts.inference_events:
            self._event_ch.send_nowait(
                vad.VADEvent(
                    type=vad.VADEventType.INFERENCE_DONE,
                    samples_index=index,
                    timestamp=timestamp,
                    # livekit-agents interrupts the agent once this reaches the minimum
                    # interruption duration: voiced time only, so a short sound plus the hold's
                    # silence does not add up to an interruption.
                    speech_duration=seg.voiced_duration if seg.speaking else 0.0,
                    silence_duration=seg.silence_duration,
                    probability=1.0 if voiced else 0.0,
                    inference_duration=duration,
                    speaking=seg.speaking,
                    raw_accumulated_speech=seg.voiced_run,
                    raw_accumulated_silence=seg.unvoiced_run,
                )
            )
        if transition is not None:
            started = transition is vad.VADEventType.START_OF_SPEECH
            self._event_ch.send_nowait(
                vad.VADEvent(
                    type=transition,
                    samples_index=index,
                    timestamp=timestamp,
                    speech_duration=(
                        seg.speech_duration
                        if started
                        else max(0.0, seg.speech_duration - seg.silence_duration)
                    ),
                    silence_duration=0.0 if started else seg.silence_duration,
                    frames=[state.speech_frame()],
                    speaking=started,
                )
            )
        if transition is vad.VADEventType.END_OF_SPEECH:
            seg.speech_duration = 0.0
            state.trim_to_padding()
        elif not seg.speaking:
            state.trim_to_padding()


class _StreamState:
    """Detector, segmenter and buffers of one segment run; replaced on flush."""

    def __init__(self, opts: WebRTCVADOptions, frame_samples: int, input_rate: int) -> None:
        self.opts = opts
        self.frame_samples = frame_samples
        self.input_rate = input_rate
        self.detector = webrtcvad.Vad(opts.aggressiveness)
        self.segmenter = _Segmenter(opts)
        self.warmup_left = WebRTCVADStream.WARMUP_FRAMES
        self.resampler = (
            rtc.AudioResampler(input_rate, _INFERENCE_RATE, quality=rtc.AudioResamplerQuality.QUICK)
            if input_rate and input_rate != _INFERENCE_RATE
            else None
        )
        self.pending = np.zeros(0, np.int16)  # 16 kHz samples not yet analysed
        self.unanalysed = np.zeros(0, np.int16)  # input-rate samples not yet analysed
        self.input_per_window = frame_samples * input_rate / _INFERENCE_RATE if input_rate else 0
        self.input_fraction = 0.0
        # Analysed input-rate audio of the current segment (prefix padding while idle).
        self.speech: deque[np.ndarray] = deque()
        self.speech_samples = 0

    def analyse(self, samples: np.ndarray) -> Iterator[tuple[bool, float]]:
        """Feed input-rate samples; yields (voiced, inference seconds) per analysed window.

        The window's input audio joins the segment buffer just before its decision is yielded,
        so the caller's events and trims see exactly the audio analysed so far.
        """
        self.unanalysed = np.concatenate([self.unanalysed, samples])
        if self.resampler is not None:
            mono = rtc.AudioFrame(samples.tobytes(), self.input_rate, 1, len(samples))
            parts = [np.frombuffer(f.data, np.int16) for f in self.resampler.push(mono)]
            inference = np.concatenate([self.pending, *parts]) if parts else self.pending
        else:
            inference = np.concatenate([self.pending, samples])
        offset = 0
        while len(inference) - offset >= self.frame_samples:
            window = inference[offset : offset + self.frame_samples]
            offset += self.frame_samples
            started = time.perf_counter()
            voiced = self.detector.is_speech(window.tobytes(), _INFERENCE_RATE)
            duration = time.perf_counter() - started
            if self.warmup_left > 0:
                self.warmup_left -= 1
                voiced = False
            self._keep_analysed_input()
            yield voiced, duration
        self.pending = inference[offset:].copy()

    def _keep_analysed_input(self) -> None:
        # Move the input-rate audio matching one analysed window into the segment buffer, so
        # the buffer never runs ahead of the decisions (whatever the input frame size).
        exact = self.input_per_window + self.input_fraction
        take = min(int(exact), len(self.unanalysed))
        self.input_fraction = exact - int(exact)
        chunk, self.unanalysed = self.unanalysed[:take], self.unanalysed[take:]
        if self.speech_samples < self.opts.max_buffered_speech * self.input_rate:
            self.speech.append(chunk)
            self.speech_samples += len(chunk)

    def speech_frame(self) -> rtc.AudioFrame:
        data = np.concatenate(self.speech) if self.speech else np.zeros(0, dtype=np.int16)
        return rtc.AudioFrame(data.tobytes(), self.input_rate, 1, len(data))

    def trim_to_padding(self) -> None:
        """Keep only the last `prefix_padding_duration` of audio (runs on every idle frame)."""
        keep = int(self.opts.prefix_padding_duration * self.input_rate)
        while self.speech and self.speech_samples - len(self.speech[0]) >= keep:
            self.speech_samples -= len(self.speech.popleft())
        excess = self.speech_samples - keep
        if excess > 0:
            self.speech[0] = self.speech[0][excess:]
            self.speech_samples = keep
