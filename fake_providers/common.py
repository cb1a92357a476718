"""What the fake provider servers share: fault plans, a request log, speech and transcripts."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import threading
import wave
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import web

from shared.audio import resample

if TYPE_CHECKING:
    from pipelines import WhisperModelHandle

ESPEAK_RATE = 22050


@dataclass
class Fault:
    """What to do to the next requests of one route.

    `status` is answered instead of the real response for the next `times` requests (or all of
    them when `times` is None). `latency_ms` delays the first byte of every response;
    `chunk_delay_ms` slows every later chunk of a streamed response; `drop_after_chunks` closes
    the connection (HTTP stream or websocket) after that many chunks without a clean end.
    """

    status: int | None = None
    times: int | None = None
    latency_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    drop_after_chunks: int | None = None
    body: dict[str, Any] | None = None

    def take_status(self) -> int | None:
        """The status to fail this request with, consuming one of `times`."""
        if self.status is None:
            return None
        if self.times is None:
            return self.status
        if self.times <= 0:
            return None
        self.times -= 1
        return self.status


@dataclass
class RequestRecord:
    route: str
    method: str
    path: str
    api_key: str | None
    status: int | None = None
    body: Any = None
    completed: bool | None = None
    """A streamed answer: whether it was written to its end (False: the client left, or a
    fault dropped it)."""


@dataclass
class FakeState:
    """Faults per route name, the log of requests served, and the latency profile."""

    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[RequestRecord] = field(default_factory=list)
    valid_keys: set[str] | None = None
    """Keys the server accepts; None accepts any non-empty key."""

    def fault(self, route: str) -> Fault:
        return self.faults.get(route) or self.faults.get("*") or Fault()

    def key_ok(self, key: str | None) -> bool:
        if not key:
            return False
        return self.valid_keys is None or key in self.valid_keys

    def log(self, route: str, request: web.Request, api_key: str | None, body: Any = None):
        record = RequestRecord(route, request.method, request.path, api_key, body=body)
        self.requests.append(record)
        return record


def control_routes(state: FakeState) -> list[web.RouteDef]:
    """`/_fake/*`: set faults, read the request log, reset. Used by tests and load tests."""

    async def set_faults(request: web.Request) -> web.Response:
        payload = await request.json()
        for route, spec in payload.items():
            if spec is None:
                state.faults.pop(route, None)
            else:
                state.faults[route] = Fault(**spec)
        return web.json_response({k: asdict(v) for k, v in state.faults.items()})

    async def get_requests(request: web.Request) -> web.Response:
        return web.json_response([asdict(r) for r in state.requests])

    async def reset(request: web.Request) -> web.Response:
        state.faults.clear()
        state.requests.clear()
        return web.json_response({"ok": True})

    return [
        web.post("/_fake/faults", set_faults),
        web.get("/_fake/requests", get_requests),
        web.post("/_fake/reset", reset),
    ]


async def apply_latency(fault: Fault) -> None:
    if fault.latency_ms > 0:
        await asyncio.sleep(fault.latency_ms / 1000)


# --- speech -------------------------------------------------------------------------------------

_speech_cache: dict[tuple[str, str], np.ndarray] = {}
_speech_lock = threading.Lock()


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, voice: str = "en-us") -> np.ndarray:
    """Mono int16 speech at 22050 Hz for `text`, spoken by espeak-ng (cached per text).

    A different engine from the runtime's own Piper voice, so a listener can tell which one
    spoke. Without espeak-ng, a tone whose length follows the text keeps the wire format honest.
    """
    key = (voice, text)
    with _speech_lock:
        cached = _speech_cache.get(key)
    if cached is not None:
        return cached
    if text.strip() and espeak_available():
        out = subprocess.run(
            ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
        ).stdout
        with wave.open(io.BytesIO(out)) as wav:
            rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)
        pcm = resample(pcm, rate, ESPEAK_RATE)
    else:
        seconds = 0.06 * len(text.split()) + 0.05
        t = np.arange(int(seconds * ESPEAK_RATE)) / ESPEAK_RATE
        pcm = (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16)
    with _speech_lock:
        _speech_cache[key] = pcm
    return pcm


class Transcriber:
    """Turns uploaded speech into text: Whisper (the packaged model) or a fixed answer.

    A fixed transcript (`FAKE_TRANSCRIPT`-style) costs no CPU, which load tests need; Whisper
    makes end-to-end calls meaningful.
    """

    def __init__(self, fixed: str | None = None) -> None:
        self.fixed = fixed
        self._model: WhisperModelHandle | None = None
        self._lock = threading.Lock()

    def transcribe(self, audio16k: np.ndarray, language: str = "en") -> str:
        """Blocking; `audio16k` is float32 mono at 16 kHz in [-1, 1]."""
        if self.fixed is not None:
            return self.fixed
        with self._lock:
            if self._model is None:
                from pipelines import WhisperModelHandle

                self._model = WhisperModelHandle(cpu_threads=1)
        return self._model.transcribe(audio16k, language=language, beam_size=1)
