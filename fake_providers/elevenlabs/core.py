"""The fake ElevenLabs' shared state and request handling: accounts and their voices, quotas,
the API-key and fault gate every route passes, ElevenLabs' error answers, speech and
transcripts."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from fake_providers.common import FakeState, Fault, RequestRecord, Transcriber, synthesize
from fake_providers.elevenlabs.audio import _clean_text, _speech_span
from fake_providers.elevenlabs.protocol import (
    API_KEY_HEADER,
    DIALOGUE_MODELS,
    STT_RATE,
    TTS_MODELS,
    _iso1,
    error_body,
)
from fake_providers.elevenlabs.voices import (
    _espeak_voice,
    _normalize_voice,
    default_library_voices,
    default_own_voices,
)
from fake_providers.server import FakeServer
from shared.audio import AudioFormatError, parse_output_format, resample

logger = logging.getLogger("fake_providers.elevenlabs")
"""One logger for every module of the package, named after it."""


class _Dropped(Exception):
    """The connection was cut on purpose (``drop_after_chunks``)."""


@dataclass
class _Account:
    character_count: int = 0
    subscription: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Preview:
    """A designed voice's preview, waiting to be made a voice by the key that designed it."""

    api_key: str
    voice: dict[str, Any]
    expires_at: float


class ElevenLabsCore(FakeServer):
    """What every ElevenLabs route stands on: accounts and their voices, quotas, the gate each
    request passes, speech and transcripts. `FakeElevenLabs` adds the routes.

    Args:
        state: shared faults / request log; a new `FakeState` by default.
        valid_keys: API keys accepted (None accepts any non-empty key).
        own_voices: the account's own voices, listed after the premade ones. Either one list for
            every key, or a mapping ``api_key -> list`` (key ``"*"`` for all others). Entries
            need ``voice_id`` and ``name``; ``category`` ("cloned", "generated", "professional")
            and labels (``gender``, ``accent``, ...) are optional. None: `default_own_voices`.
        library_voices: the voices every account can use, entries as in `own_voices`; the
            premade ones are listed with the account's own. None: `default_library_voices`.
        fixed_transcript: answer every speech-to-text request that holds speech with this text
            instead of running Whisper (cheap, for load tests).
        transcriber: a `Transcriber` to share between servers (overrides `fixed_transcript`).
        tts_ttfb_ms: least time from a TTS request (or a websocket context's first text) to its
            first audio, like a real provider's time to first byte.
        stt_final_ms: least time from a commit (or an upload) to its final transcript.
        stt_partial_interval_ms: audio between two realtime partial transcripts (0: none).
        audio_chunk_ms: audio per streamed chunk / websocket audio message.
        tier, character_limit: the subscription ``GET /v1/user`` reports; TTS characters are
            counted per key and a request past the limit gets ElevenLabs' 401
            ``quota_exceeded``.
    """

    title = "ElevenLabs"
    slug = "elevenlabs"
    client_max_size = 64 * 1024 * 1024
    shutdown_timeout = 1.0
    log = logger

    def __init__(
        self,
        *,
        state: FakeState | None = None,
        valid_keys: Iterable[str] | None = None,
        own_voices: Sequence[Mapping[str, Any]]
        | Mapping[str, Sequence[Mapping[str, Any]]]
        | None = None,
        library_voices: Sequence[Mapping[str, Any]] | None = None,
        fixed_transcript: str | None = None,
        transcriber: Transcriber | None = None,
        tts_ttfb_ms: float = 0.0,
        stt_final_ms: float = 0.0,
        stt_partial_interval_ms: float = 500.0,
        audio_chunk_ms: float = 200.0,
        tier: str = "creator",
        character_limit: int = 100_000,
    ) -> None:
        super().__init__(
            state=state,
            valid_keys=valid_keys,
            fixed_transcript=fixed_transcript,
            transcriber=transcriber,
        )
        self.tts_ttfb_ms = tts_ttfb_ms
        self.stt_final_ms = stt_final_ms
        self.stt_partial_interval_ms = stt_partial_interval_ms
        self.audio_chunk_ms = audio_chunk_ms
        self.tier = tier
        self.character_limit = character_limit
        self._own_voices: dict[str, list[dict[str, Any]]] = {}
        if isinstance(own_voices, Mapping):
            for key, voices in own_voices.items():
                self.set_own_voices(key, voices)
        elif own_voices is not None:
            self.set_own_voices("*", own_voices)
        if library_voices is None:
            library_voices = default_library_voices()
        self.library_voices = [_normalize_voice(v) for v in library_voices]
        self.premade_voices = [v for v in self.library_voices if v["category"] == "premade"]
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, str] = {}
        self._previews: dict[str, _Preview] = {}

    # --- configuration ---------------------------------------------------------------------

    def set_own_voices(self, api_key: str, voices: Sequence[Mapping[str, Any]]) -> None:
        """The voices `api_key`'s account owns (``"*"``: every key without its own list)."""
        self._own_voices[api_key] = [_normalize_voice(v) for v in voices]

    def own_voices(self, api_key: str) -> list[dict[str, Any]]:
        if api_key in self._own_voices:
            return self._own_voices[api_key]
        if "*" in self._own_voices:
            return self._own_voices["*"]
        return [_normalize_voice(v) for v in default_own_voices(api_key)]

    def add_own_voice(self, api_key: str, voice: Mapping[str, Any]) -> dict[str, Any]:
        """Add a voice to `api_key`'s account (a clone or a designed voice); returns it as
        stored."""
        added = _normalize_voice(voice)
        self._own_voices[api_key] = [*self.own_voices(api_key), added]
        return added

    def remove_own_voice(self, api_key: str, voice_id: str) -> bool:
        """Remove one of `api_key`'s own voices; False when the account owns no such voice."""
        own = self.own_voices(api_key)
        kept = [v for v in own if v["voice_id"] != voice_id]
        if len(kept) == len(own):
            return False
        self._own_voices[api_key] = kept
        return True

    def set_subscription(self, api_key: str, **fields: Any) -> None:
        """Override fields of `api_key`'s subscription (e.g. ``tier``, ``character_limit``)."""
        self._account(api_key).subscription.update(fields)

    def characters_used(self, api_key: str) -> int:
        return self._account(api_key).character_count

    def _account(self, api_key: str) -> _Account:
        return self._accounts.setdefault(api_key, _Account())

    def _voice(self, api_key: str, voice_id: str) -> dict[str, Any] | None:
        for voice in (*self.own_voices(api_key), *self.library_voices):
            if voice["voice_id"] == voice_id:
                return voice
        return None

    def _limit(self, api_key: str) -> int:
        return int(self._account(api_key).subscription.get("character_limit", self.character_limit))

    def _quota_error(self, api_key: str, chars: int) -> dict | None:
        account = self._account(api_key)
        remaining = self._limit(api_key) - account.character_count
        if chars <= remaining:
            return None
        return error_body(
            401,
            "quota_exceeded",
            f"This request exceeds your quota of {self._limit(api_key)}. You have "
            f"{max(remaining, 0)} credits remaining, while {chars} credits are required for "
            "this request.",
        )

    def _charge(self, api_key: str, chars: int) -> None:
        self._account(api_key).character_count += chars

    # --- the app ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = super().app()
        app.on_response_prepare.append(self._add_trace_headers)
        return app

    def middlewares(self) -> list[Any]:
        return [self._json_http_errors]

    @staticmethod
    @web.middleware
    async def _json_http_errors(request: web.Request, handler: Any) -> web.StreamResponse:
        """Unknown paths and methods answer JSON, as FastAPI (which ElevenLabs runs) does."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return web.json_response({"detail": "Not Found"}, status=404)
        except web.HTTPMethodNotAllowed:
            return web.json_response({"detail": "Method Not Allowed"}, status=405)

    @staticmethod
    async def _add_trace_headers(request: web.Request, response: web.StreamResponse) -> None:
        trace = uuid.uuid4().hex
        response.headers.setdefault("x-trace-id", trace)
        response.headers.setdefault("request-id", trace)

    # --- common request handling -----------------------------------------------------------

    @staticmethod
    def _respond(record: RequestRecord, status: int, payload: Any) -> web.Response:
        record.status = status
        return web.json_response(payload, status=status)

    def _model_and_format(
        self, record: RequestRecord, model: str, output_format: str, *, dialogue: bool
    ) -> tuple[Any, web.Response | None]:
        """The requested output format, or the 400 ElevenLabs answers for an unknown model or
        format."""
        if model not in (DIALOGUE_MODELS if dialogue else TTS_MODELS):
            message = f"Model '{model}' does not exist or cannot do this request."
            return None, self._fail(record, 400, error_body(400, "model_not_found", message))
        try:
            return parse_output_format(output_format), None
        except AudioFormatError as exc:
            error = error_body(400, "invalid_output_format", str(exc))
            return None, self._fail(record, 400, error)

    def _fail(self, record: RequestRecord, status: int, body: dict | None = None) -> web.Response:
        logger.info("%s %s -> %s", record.method, record.path, status)
        return self._respond(record, status, body or error_body(status))

    async def _gate(
        self, request: web.Request, route: str, body: Any = None, *, websocket: bool = False
    ) -> tuple[RequestRecord, Fault, str, web.Response | None]:
        """Log the request, then apply the route's fault and the API-key check.

        Returns the record, the fault, the key and, when the request must fail, its response.
        A websocket's latency applies to its answers, and its key is checked by the caller
        (it may come in a token or in the first message).
        """
        key = request.headers.get(API_KEY_HEADER) or ""
        record = self.state.log(route, request, key or None, body)
        fault = self.state.fault(route)
        if not websocket:
            await self._sleep_ms(fault.latency_ms)
        status = fault.take_status()
        if status is not None:
            return record, fault, key, self._fail(record, status, fault.body)
        if not websocket and not self.state.key_ok(key):
            message = "Invalid API key" if key else "Missing API key (xi-api-key header)"
            return record, fault, key, self._fail(record, 401, error_body(401, None, message))
        return record, fault, key, None

    @staticmethod
    def _voice_not_found(voice_id: str) -> dict:
        return error_body(
            404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found."
        )

    # --- speech and transcripts ------------------------------------------------------------

    async def _speech(
        self, text: str, voice: Mapping[str, Any], language: str | None = None
    ) -> np.ndarray:
        """espeak-ng speech for `text` in `voice`'s manner, int16 at `ESPEAK_RATE`."""
        clean = _clean_text(text)
        if not clean:
            return np.zeros(0, np.int16)
        return await asyncio.to_thread(synthesize, clean, _espeak_voice(voice, clean, language))

    async def _transcribe(self, pcm: np.ndarray, rate: int, language: str | None) -> str:
        """Text of int16 mono `pcm`; silence gives ``""`` without running the model."""
        _, _, voiced = _speech_span(pcm, rate)
        if voiced < 0.1:
            return ""
        audio16k = resample(pcm, rate, STT_RATE).astype(np.float32) / 32768.0
        # a little lead-in silence steadies Whisper on speech that starts at the first sample
        audio16k = np.concatenate([np.zeros(int(0.3 * STT_RATE), np.float32), audio16k])
        text = await asyncio.to_thread(
            self.transcriber.transcribe, audio16k, _iso1(language) or "en"
        )
        return text.strip()
