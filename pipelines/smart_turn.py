"""Semantic end of turn: Smart Turn v3.2 reads the caller's last seconds of audio and says
whether the turn sounds finished.

The model (8.7 MB of ONNX, BSD-2-Clause) is the one the `pipecat-ai` wheel carries in
`pipecat/audio/turn/smart_turn/data/`; the package is installed without its dependencies and
nothing of it is imported: the model file and its numpy feature extractor are read by path
(`SMART_TURN_MODEL_PATH` names another model file). It takes the last 8 s of 16 kHz audio,
left-padded with silence, as Whisper's log-mel features, and returns the probability that the
turn is complete: ~90 ms on one thread here.

In a call it is livekit-agents' streaming turn detector: the caller's audio is pushed to it as
it arrives; once the VAD has seen 200 ms of silence the framework asks for a prediction (run
in a thread), and when the VAD's hold ends the speech the framework answers after
`min_endpointing_delay` if the turn is complete, or waits up to `max_endpointing_delay` for
the caller to go on if it is not.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents import APIConnectOptions
from livekit.agents.language import LanguageCode
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents.voice.turn import TurnDetectionEvent

SAMPLE_RATE = 16000
WINDOW_S = 8
"""The model reads the last 8 s of the turn."""
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
MODEL_NAME = "smart-turn-v3.2"


class SmartTurnUnavailableError(RuntimeError):
    """The model or its feature extractor is not installed; the message says what to do."""


def _package_dir() -> Path:
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise SmartTurnUnavailableError(
            "semantic turn detection needs the Smart Turn model of the pipecat-ai package: "
            "pip install --no-deps pipecat-ai==1.14.0 (make setup does), or set "
            "SMART_TURN_MODEL_PATH"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "audio/turn/smart_turn"


def _features_module() -> ModuleType:
    path = _package_dir() / "_whisper_features.py"
    spec = importlib.util.spec_from_file_location("_smart_turn_whisper_features", path)
    if spec is None or spec.loader is None or not path.exists():
        raise SmartTurnUnavailableError(f"Smart Turn's feature extractor is missing: {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_path() -> Path:
    configured = os.environ.get("SMART_TURN_MODEL_PATH")
    return Path(configured) if configured else _package_dir() / "data" / MODEL_FILE


class SmartTurnModel:
    """One ONNX session (one thread) per process, shared by its calls; predictions run one at a
    time on a thread of their own, off every event loop."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime as ort

        path = path or model_path()
        if not path.exists():
            raise SmartTurnUnavailableError(f"Smart Turn model not found: {path}")
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), sess_options=options)
        self._features: Callable[..., npt.NDArray[np.float32]] = (
            _features_module().compute_whisper_log_mel_features
        )
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smart-turn")

    def probability(self, audio: npt.NDArray[np.float32]) -> float:
        """The probability that the turn in `audio` (16 kHz, -1..1) is complete."""
        window = WINDOW_S * SAMPLE_RATE
        audio = audio[-window:]
        if len(audio) < window:
            audio = np.pad(audio, (window - len(audio), 0))
        features = self._features(audio.astype(np.float32), do_normalize=True)
        outputs = self._session.run(None, {"input_features": features[None, ...]})
        return float(np.asarray(outputs[0]).reshape(-1)[0])


class SmartTurnDetector:
    """livekit-agents' streaming turn detector protocol, on `SmartTurnModel`."""

    def __init__(
        self,
        model: SmartTurnModel,
        threshold: float = 0.5,
        on_prediction: Callable[[float, float], None] | None = None,
    ) -> None:
        self.engine = model
        """The process's model, shared by every call's stream."""
        self.threshold = threshold
        self.on_prediction = on_prediction
        """Called with each prediction's probability and the seconds it took."""

    @property
    def model(self) -> str:
        return MODEL_NAME

    @property
    def provider(self) -> str:
        return "local"

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> SmartTurnStream:
        return SmartTurnStream(self)

    async def unlikely_threshold(self, language: LanguageCode | None) -> float | None:
        return self.threshold

    async def backchannel_threshold(self, language: LanguageCode | None) -> float | None:
        return None

    async def supports_language(self, language: LanguageCode | None) -> bool:
        return True  # trained on 23 languages; it reads the audio, not the words


class SmartTurnStream:
    """One call's audio since its last committed turn (the last 8 s of it), and the prediction
    in progress."""

    prediction_timeout = 1.0
    """Seconds the framework waits for a prediction before it commits without one."""
    is_fallback = False

    def __init__(self, detector: SmartTurnDetector) -> None:
        self._detector = detector
        self._chunks: deque[npt.NDArray[np.int16]] = deque()
        self._samples = 0
        self._resampler: rtc.AudioResampler | None = None
        self._pending: asyncio.Future[TurnDetectionEvent] | None = None

    @property
    def model(self) -> str:
        return self._detector.model

    @property
    def provider(self) -> str:
        return self._detector.provider

    async def unlikely_threshold(self, language: LanguageCode | None) -> float | None:
        return await self._detector.unlikely_threshold(language)

    async def backchannel_threshold(self, language: LanguageCode | None) -> float | None:
        return None

    async def supports_language(self, language: LanguageCode | None) -> bool:
        return await self._detector.supports_language(language)

    def push_audio(self, frame: rtc.AudioFrame) -> None:
        frames = [frame]
        if frame.sample_rate != SAMPLE_RATE or frame.num_channels != 1:
            if self._resampler is None:
                self._resampler = rtc.AudioResampler(
                    frame.sample_rate, SAMPLE_RATE, num_channels=frame.num_channels
                )
            frames = self._resampler.push(frame)
        for f in frames:
            samples = np.frombuffer(f.data, dtype=np.int16)
            if f.num_channels > 1:
                samples = samples.reshape(-1, f.num_channels)[:, 0]
            self._chunks.append(samples.copy())
            self._samples += len(samples)
        limit = WINDOW_S * SAMPLE_RATE
        while self._chunks and self._samples - len(self._chunks[0]) >= limit:
            self._samples -= len(self._chunks.popleft())

    def audio(self) -> npt.NDArray[np.float32]:
        """The audio the next prediction reads (16 kHz, -1..1)."""
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(list(self._chunks)).astype(np.float32) / 32768.0

    def predict(self) -> asyncio.Future[TurnDetectionEvent]:
        if self._pending is not None and not self._pending.done():
            return self._pending  # the one in progress reads the same audio
        loop = asyncio.get_running_loop()
        audio = self.audio()
        asked = time.time()
        model = self._detector.engine

        def run() -> tuple[float, float]:
            started = time.perf_counter()
            return model.probability(audio), time.perf_counter() - started

        job = loop.run_in_executor(model.executor, run)
        future: asyncio.Future[TurnDetectionEvent] = loop.create_future()

        def done(job: asyncio.Future[tuple[float, float]]) -> None:
            if future.done():
                return  # cancelled meanwhile: the caller spoke again
            if job.cancelled():
                future.cancel()
            elif (error := job.exception()) is not None:
                future.set_exception(error)
            else:
                probability, took = job.result()
                if self._detector.on_prediction is not None:
                    self._detector.on_prediction(probability, took)
                future.set_result(
                    TurnDetectionEvent(
                        type="eot_prediction",
                        end_of_turn_probability=probability,
                        last_speaking_time=asked,
                        detection_delay=time.time() - asked,
                        inference_duration=took,
                    )
                )

        job.add_done_callback(done)
        self._pending = future
        return future

    def cancel_inference(self, *, timed_out: bool = False) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        self._pending = None

    def flush(self, reason: str | None = None) -> None:
        """The turn was committed or cleared: the next one starts from nothing."""
        self.cancel_inference()
        self._chunks.clear()
        self._samples = 0

    def end_input(self) -> None:
        pass

    async def aclose(self) -> None:
        self.flush()
