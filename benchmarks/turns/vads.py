"""The VADs under test, and what one of them reports for a clip: its events in stream time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from livekit import rtc
from livekit.agents import vad
from livekit.plugins import silero

from agent.contract import TurnDetection
from benchmarks.turns.common import FRAME_MS
from benchmarks.turns.sounds import RATE
from pipelines import WebRTCVAD, WebRTCVADOptions


@dataclass
class Trace:
    """What one VAD stream reported for one clip."""

    starts: list[float]
    ends: list[float]
    voiced: list[float]
    """`speech_duration` of each END_OF_SPEECH: the segment without its closing silence."""
    times: np.ndarray
    """INFERENCE_DONE timestamps."""
    speech: np.ndarray
    """INFERENCE_DONE `speech_duration`, the figure livekit-agents compares to
    `min_interruption_duration`."""
    cpu_s: float


@dataclass(frozen=True)
class Detector:
    """A VAD under test, built for a given hold."""

    name: str
    description: str
    build: Callable[[float], vad.VAD]


def detectors() -> dict[str, Detector]:
    """Our WebRTC VAD at each aggressiveness (project frame and min speech), and Silero."""
    td = TurnDetection()

    def webrtc(level: int) -> Callable[[float], vad.VAD]:
        def build(hold: float) -> vad.VAD:
            options = WebRTCVADOptions(
                aggressiveness=level,
                frame_ms=td.vad_frame_ms,
                min_speech_duration=td.min_speech_duration,
                min_silence_duration=hold,
            )
            return WebRTCVAD(options)

        return build

    found = {
        f"webrtc-a{level}": Detector(
            f"webrtc-a{level}",
            f"WebRTCVAD aggressiveness {level}, {td.vad_frame_ms} ms frames, "
            f"min speech {td.min_speech_duration} s",
            webrtc(level),
        )
        for level in range(4)
    }
    found["silero"] = Detector(
        "silero",
        "silero.VAD.load() defaults: activation 0.5, min speech 0.05 s, 32 ms windows",
        lambda hold: silero.VAD.load(min_silence_duration=hold),
    )
    return found


async def trace(detector: vad.VAD, samples: np.ndarray) -> Trace:
    """Push `samples` in 10 ms frames through a fresh stream and record its events."""
    stream = detector.stream()
    step = RATE * FRAME_MS // 1000
    cpu = time.process_time()
    pushed = 0
    for offset in range(0, len(samples) - step + 1, step):
        chunk = samples[offset : offset + step]
        stream.push_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, step))
        pushed += step
    stream.end_input()
    starts: list[float] = []
    ends: list[float] = []
    voiced: list[float] = []
    times: list[float] = []
    speech: list[float] = []
    async for ev in stream:
        assert ev.timestamp <= pushed / RATE + 1e-6, "event ahead of the audio"
        if ev.type is vad.VADEventType.INFERENCE_DONE:
            times.append(ev.timestamp)
            speech.append(ev.speech_duration)
        elif ev.type is vad.VADEventType.START_OF_SPEECH:
            starts.append(ev.timestamp)
        else:
            ends.append(ev.timestamp)
            voiced.append(ev.speech_duration)
    cpu = time.process_time() - cpu
    await stream.aclose()
    return Trace(starts, ends, voiced, np.array(times), np.array(speech), cpu)
