"""A local ElevenLabs: the parts of its HTTP and websocket APIs this runtime talks to.

The real `livekit.plugins.elevenlabs` TTS and STT, and plain HTTP clients, run unchanged against
it by base URL (``http://host:port/v1``). Speech comes from espeak-ng (`common.synthesize`) and
is encoded into the requested ``output_format``; transcripts come from Whisper or a fixed text
(`common.Transcriber`).

Routes and the fault names that `FakeState.faults` keys them by:

==============  ===============================================================================
``user``        ``GET /v1/user``, ``GET /v1/user/subscription``
``voices``      ``GET /v1/voices``, ``GET /v2/voices``, ``GET /v1/voices/{voice_id}``
``models``      ``GET /v1/models``
``tts``         ``POST /v1/text-to-speech/{voice_id}``
``tts_stream``  ``POST /v1/text-to-speech/{voice_id}/stream``
``tts_ws``      ``WS /v1/text-to-speech/{voice_id}/multi-stream-input`` and ``.../stream-input``
``dialogue``    ``POST /v1/text-to-dialogue``, ``POST /v1/text-to-dialogue/stream``
``dialogue_ws`` ``WS /v1/text-to-dialogue/multi-stream-input`` (eleven_v3 / eleven_v4 models)
``stt``         ``POST /v1/speech-to-text``
``stt_ws``      ``WS /v1/speech-to-text/realtime``
``token``       ``POST /v1/single-use-token/{token_type}``
==============  ===============================================================================

Fault semantics: ``status`` (with ``times``) answers an ElevenLabs-style JSON error instead (a
websocket handshake is refused with it); ``latency_ms`` delays the first byte of an HTTP answer,
the first audio of every TTS websocket context and every committed STT transcript;
``chunk_delay_ms`` spaces out audio chunks / messages; ``drop_after_chunks`` cuts the connection
without a clean end after that many audio chunks (HTTP body chunks, TTS websocket audio messages,
or STT websocket audio messages received).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from shared.audio import (
    AudioDecodeError,
    AudioFormatError,
    OutputFormat,
    decode_to_mono,
    encode_pcm,
    parse_output_format,
    resample,
)

from .common import ESPEAK_RATE, FakeState, Fault, RequestRecord, Transcriber, synthesize
from .server import FakeServer, serve_forever

logger = logging.getLogger(__name__)

API_KEY_HEADER = "xi-api-key"
STT_RATE = 16000
MAX_CONTEXTS = 5
"""Simultaneous contexts ElevenLabs allows on one multi-stream-input websocket."""
MIN_COMMIT_SECONDS = 0.3
"""Scribe realtime ignores (and ends the session on) a commit of less uncommitted audio."""
DEFAULT_WS_INACTIVITY_S = 20
DIALOGUE_IDLE_S = 20.0
DEFAULT_CHUNK_SCHEDULE = (120, 160, 250, 290)
STREAM_INPUT_DEFAULT_FORMAT = "mp3_44100_128"
REALTIME_FORMATS = {f"pcm_{r}": r for r in (8000, 16000, 22050, 24000, 44100, 48000)} | {
    "ulaw_8000": 8000
}

_STATUS_NAMES = {
    400: "invalid_request",
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    408: "request_timeout",
    409: "conflict",
    422: "unprocessable_entity",
    429: "too_many_concurrent_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_STATUS_MESSAGES = {
    401: "Invalid API key",
    429: "Too many concurrent requests for your subscription. Please try again later.",
    500: "An internal server error occurred. Please try again later.",
    503: "The service is temporarily unavailable. Please try again later.",
}

# Everything ElevenLabs documents as text-to-speech models; dialogue models go elsewhere.
TTS_MODELS = (
    "eleven_multilingual_v2",
    "eleven_turbo_v2_5",
    "eleven_flash_v2_5",
    "eleven_turbo_v2",
    "eleven_flash_v2",
    "eleven_multilingual_v1",
    "eleven_monolingual_v1",
)
DIALOGUE_MODELS = ("eleven_v3", "eleven_v3_conversational", "eleven_v4", "eleven_v4_turbo")
STT_MODELS = ("scribe_v1", "scribe_v2")
REALTIME_STT_MODELS = ("scribe_v2_realtime",)

# The plugin's default voice is not in the curated catalog; it is a premade voice too.
_EXTRA_PREMADE = {
    "voice_id": "hpp4J3VqNfWAUOO0d1Us",
    "name": "Bella",
    "category": "premade",
    "gender": "female",
    "accent": "american",
    "age": "young",
    "description": "professional, bright, warm",
    "use_case": "conversational",
    "languages": ["en"],
}
_LABEL_FIELDS = ("gender", "accent", "age", "description", "use_case")
_ISO3 = {
    "en": "eng",
    "ar": "ara",
    "es": "spa",
    "fr": "fra",
    "de": "deu",
    "it": "ita",
    "pt": "por",
    "nl": "nld",
    "ru": "rus",
    "tr": "tur",
    "pl": "pol",
    "hi": "hin",
    "ja": "jpn",
    "ko": "kor",
    "zh": "cmn",
}
_ISO1 = {v: k for k, v in _ISO3.items()}
_SENTENCE_END = re.compile(r"[.!?;:。！？؟]+[\"')\]]*\s+")
_TAG = re.compile(r"<[^>]{0,200}>")
_ARABIC = re.compile(r"[\u0600-\u06ff]")


# --- small helpers ------------------------------------------------------------------------------


def error_body(status: int, code: str | None = None, message: str | None = None) -> dict:
    """ElevenLabs' error shape: ``{"detail": {"status": ..., "message": ...}}``."""
    return {
        "detail": {
            "status": code or _STATUS_NAMES.get(status, "error"),
            "message": message or _STATUS_MESSAGES.get(status, f"Request failed ({status})"),
        }
    }


def _validation_error(field_name: str, message: str = "Field required") -> dict:
    """The FastAPI-style body ElevenLabs answers 422 with."""
    return {"detail": [{"type": "missing", "loc": ["body", field_name], "msg": message}]}


def _iso1(code: str | None) -> str | None:
    if not code:
        return None
    code = code.split("-")[0].split("_")[0].lower()
    return _ISO1.get(code, code)


def _iso3(code: str | None) -> str:
    code = _iso1(code) or "en"
    return _ISO3.get(code, code)


def _voice_id_for(seed: str) -> str:
    """A 20-character alphanumeric id, as ElevenLabs voice ids look."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    n = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    out = []
    for _ in range(20):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def default_own_voices(api_key: str) -> list[dict[str, Any]]:
    """The voices an account owns when the server was not told otherwise: one instant clone and
    one designed voice, with ids that differ per key."""
    return [
        {
            "voice_id": _voice_id_for(f"{api_key}/cloned"),
            "name": "My Cloned Voice",
            "category": "cloned",
            "gender": "male",
            "accent": "american",
            "age": "middle_aged",
            "description": "instant voice clone",
            "use_case": "conversational",
            "languages": ["en"],
        },
        {
            "voice_id": _voice_id_for(f"{api_key}/generated"),
            "name": "My Designed Voice",
            "category": "generated",
            "gender": "female",
            "accent": "british",
            "age": "young",
            "description": "designed from a prompt",
            "use_case": "narrative_story",
            "languages": ["en"],
        },
    ]


def _normalize_voice(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A flat voice entry (labels at top level or under ``labels``) with every field set."""
    labels = dict(entry.get("labels") or {})
    flat = {k: v for k, v in entry.items() if k != "labels"}
    for name in _LABEL_FIELDS:
        flat.setdefault(name, labels.get(name))
    if "voice_id" not in flat or "name" not in flat:
        raise ValueError(f"a voice needs voice_id and name: {dict(entry)!r}")
    flat.setdefault("category", "cloned")
    flat.setdefault("languages", ["en"])
    flat.setdefault("preview_url", None)
    flat["extra_labels"] = {k: v for k, v in labels.items() if k not in _LABEL_FIELDS}
    return flat


def _voice_json(voice: Mapping[str, Any], *, owned: bool) -> dict[str, Any]:
    """One voice as ``GET /v1/voices`` lists it."""
    labels = {k: voice[k] for k in _LABEL_FIELDS if voice.get(k)}
    labels.update(voice.get("extra_labels") or {})
    premade = voice["category"] == "premade"
    verified = [
        {
            "language": lang,
            "model_id": "eleven_multilingual_v2",
            "accent": voice.get("accent"),
            "locale": None,
            "preview_url": voice.get("preview_url"),
        }
        for lang in voice.get("languages") or []
    ]
    return {
        "voice_id": voice["voice_id"],
        "name": voice["name"],
        "samples": None,
        "category": voice["category"],
        "fine_tuning": {
            "is_allowed_to_fine_tune": not premade,
            "state": {},
            "verification_failures": [],
            "verification_attempts_count": 0,
            "manual_verification_requested": False,
        },
        "labels": labels,
        "description": voice.get("description"),
        "preview_url": voice.get("preview_url"),
        "available_for_tiers": [],
        "settings": None,
        "sharing": None,
        "high_quality_base_model_ids": list(TTS_MODELS[:3]),
        "verified_languages": verified,
        "safety_control": None,
        "voice_verification": {
            "requires_verification": False,
            "is_verified": False,
            "verification_failures": [],
            "verification_attempts_count": 0,
            "language": None,
            "verification_attempts": None,
        },
        "permission_on_resource": "admin" if owned else None,
        "is_owner": owned,
        "is_legacy": False,
        "is_mixed": False,
        "created_at_unix": None if premade else 1_700_000_000,
    }


def _espeak_voice(voice: Mapping[str, Any], text: str, language: str | None = None) -> str:
    """An espeak-ng voice that fits the ElevenLabs voice's language, accent and gender."""
    lang = _iso1(language)
    if _ARABIC.search(text) or lang == "ar":
        base = "ar"
    elif (voice.get("accent") or "").split("-")[0] in ("british", "irish", "australian"):
        base = "en-gb"
    else:
        base = "en-us"
    gender = voice.get("gender")
    return f"{base}+f3" if gender == "female" else f"{base}+f2" if gender == "neutral" else base


def _clean_text(text: str) -> str:
    return " ".join(_TAG.sub(" ", text).split())


def _chunk_bytes(
    audio: bytes, fmt: OutputFormat, duration_s: float, chunk_ms: float
) -> list[bytes]:
    """Split encoded audio into pieces of about `chunk_ms`, on sample boundaries for raw PCM."""
    if not audio:
        return []
    if fmt.codec == "pcm":
        size = max(2, int(fmt.sample_rate * chunk_ms / 1000) * 2)
    elif fmt.codec in ("ulaw", "alaw"):
        size = max(1, int(fmt.sample_rate * chunk_ms / 1000))
    else:
        size = max(256, int(len(audio) * chunk_ms / 1000 / max(duration_s, 1e-3)))
    return [audio[i : i + size] for i in range(0, len(audio), size)]


_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_stream_part(data: bytes, *, keep_info_frame: bool) -> bytes:
    """`data` (an encoded MP3 file) as a piece of a continuing MPEG audio stream.

    The muxer starts every file with an ID3v2 tag and a LAME "Info" frame. ElevenLabs streams
    carry neither, and in the middle of a stream they break or click in a decoder, so the tag is
    cut always and the Info frame unless this is the first piece.
    """
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for byte in data[6:10]:
            size = (size << 7) | (byte & 0x7F)
        data = data[10 + size + (10 if data[5] & 0x10 else 0) :]
    if keep_info_frame or len(data) < 4 or data[0] != 0xFF or (data[1] & 0xE0) != 0xE0:
        return data
    version = (data[1] >> 3) & 3
    bitrate_index, rate_index, padding = data[2] >> 4, (data[2] >> 2) & 3, (data[2] >> 1) & 1
    if version == 1 or rate_index == 3 or bitrate_index in (0, 15):
        return data
    bitrate = _MP3_BITRATES[1 if version == 3 else 2][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    length = (144 if version == 3 else 72) * bitrate // rate + padding
    if b"Info" in data[4:48] or b"Xing" in data[4:48]:
        return data[length:]
    return data


def _char_times(text: str, duration_ms: float) -> tuple[list[str], list[float], list[float]]:
    """Characters of `text` spread evenly over `duration_ms` (spaces count half)."""
    chars = list(text)
    if not chars:
        return [], [], []
    weights = np.array([0.5 if c.isspace() else 1.0 for c in chars])
    durs = weights / weights.sum() * duration_ms
    starts = np.concatenate([[0.0], np.cumsum(durs)[:-1]])
    return chars, starts.tolist(), durs.tolist()


def _voiced_mask(pcm: np.ndarray, rate: int, frame_ms: int = 20, dbfs: float = -45.0) -> np.ndarray:
    """One bool per `frame_ms` frame: louder than `dbfs`."""
    n = int(rate * frame_ms / 1000)
    if pcm.size < n or n == 0:
        return np.zeros(0, dtype=bool)
    frames = pcm[: pcm.size // n * n].astype(np.float32).reshape(-1, n) / 32768.0
    rms = np.sqrt(np.mean(frames * frames, axis=1)) + 1e-9
    return 20 * np.log10(rms) > dbfs


def _speech_span(pcm: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(start s, end s, voiced s) of the audible part of int16 mono `pcm`."""
    mask = _voiced_mask(pcm, rate)
    if not mask.any():
        return 0.0, 0.0, 0.0
    idx = np.flatnonzero(mask)
    return idx[0] * 0.02, (idx[-1] + 1) * 0.02, float(mask.sum()) * 0.02


def _words(text: str, start: float, end: float, offset: float = 0.0) -> list[dict[str, Any]]:
    """Scribe-style ``words`` (words and spacings) spread over the speech span."""
    tokens = text.split()
    if not tokens:
        return []
    weights = [len(t) + 1.0 for t in tokens]
    total = sum(weights)
    span = max(end - start, 0.05 * len(tokens))
    out: list[dict[str, Any]] = []
    t = start
    for i, (token, weight) in enumerate(zip(tokens, weights, strict=True)):
        dur = span * weight / total
        word_end = t + dur * 0.85
        out.append(
            {
                "text": token,
                "start": round(offset + t, 3),
                "end": round(offset + word_end, 3),
                "type": "word",
                "logprob": -0.05,
            }
        )
        if i < len(tokens) - 1:
            out.append(
                {
                    "text": " ",
                    "start": round(offset + word_end, 3),
                    "end": round(offset + t + dur, 3),
                    "type": "spacing",
                    "logprob": 0.0,
                }
            )
        t += dur
    return out


def _ulaw_to_int16(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa.astype(np.int32) << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


class _Dropped(Exception):
    """The connection was cut on purpose (``drop_after_chunks``)."""


# --- the server ---------------------------------------------------------------------------------


@dataclass
class _Account:
    character_count: int = 0
    subscription: dict[str, Any] = field(default_factory=dict)


class FakeElevenLabs(FakeServer):
    """A local ElevenLabs API server (see the module docstring for routes and faults).

    Args:
        state: shared faults / request log; a new `FakeState` by default.
        valid_keys: API keys accepted (None accepts any non-empty key).
        own_voices: the account's own voices, listed after the premade ones. Either one list for
            every key, or a mapping ``api_key -> list`` (key ``"*"`` for all others). Entries
            need ``voice_id`` and ``name``; ``category`` ("cloned", "generated", "professional")
            and labels (``gender``, ``accent``, ...) are optional. None: `default_own_voices`.
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
        from control_plane.voices import curated_elevenlabs_voices

        curated = [v.model_dump() for v in curated_elevenlabs_voices()]
        self.library_voices = [_normalize_voice(v) for v in [_EXTRA_PREMADE, *curated]]
        self.premade_voices = [v for v in self.library_voices if v["category"] == "premade"]
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, str] = {}

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

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/user", self._user),
            web.get("/v1/user/subscription", self._subscription),
            web.get("/v1/voices", self._voices_v1),
            web.get("/v2/voices", self._voices_v2),
            web.get("/v1/voices/{voice_id}", self._voice_get),
            web.get("/v1/models", self._models),
            web.post("/v1/text-to-speech/{voice_id}", self._tts),
            web.post("/v1/text-to-speech/{voice_id}/stream", self._tts_stream),
            web.get("/v1/text-to-speech/{voice_id}/multi-stream-input", self._tts_ws_multi),
            web.get("/v1/text-to-speech/{voice_id}/stream-input", self._tts_ws_single),
            web.post("/v1/text-to-dialogue", self._dialogue),
            web.post("/v1/text-to-dialogue/stream", self._dialogue_stream),
            web.get("/v1/text-to-dialogue/multi-stream-input", self._dialogue_ws),
            web.post("/v1/speech-to-text", self._stt),
            web.get("/v1/speech-to-text/realtime", self._stt_ws),
            web.post("/v1/single-use-token/{token_type}", self._token),
        ]

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

    # --- account routes --------------------------------------------------------------------

    def _subscription_json(self, key: str) -> dict[str, Any]:
        account = self._account(key)
        own = self.own_voices(key)
        sub = {
            "tier": self.tier,
            "character_count": account.character_count,
            "character_limit": self.character_limit,
            "max_character_limit_extension": None,
            "can_extend_character_limit": False,
            "allowed_to_extend_character_limit": False,
            "next_character_count_reset_unix": int(time.time()) + 30 * 86400,
            "voice_slots_used": sum(v["category"] != "professional" for v in own),
            "professional_voice_slots_used": sum(v["category"] == "professional" for v in own),
            "voice_limit": 30,
            "voice_add_edit_counter": 0,
            "professional_voice_limit": 1,
            "can_extend_voice_limit": False,
            "can_use_instant_voice_cloning": True,
            "can_use_professional_voice_cloning": True,
            "currency": "usd",
            "status": "active",
            "billing_period": "monthly_period",
            "character_refresh_period": "monthly_period",
        }
        sub.update(account.subscription)
        return sub

    async def _user(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "user")
        if failed:
            return failed
        return self._respond(
            record,
            200,
            {
                "user_id": _voice_id_for(f"user/{key}"),
                "subscription": self._subscription_json(key),
                "is_new_user": False,
                "can_use_delayed_payment_methods": False,
                "is_onboarding_completed": True,
                "is_onboarding_checklist_completed": True,
                "first_name": "Fake",
                "is_api_key_hashed": True,
                "created_at": 1_700_000_000,
            },
        )

    async def _subscription(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "user")
        if failed:
            return failed
        return self._respond(record, 200, self._subscription_json(key))

    def _listed_voices(self, key: str) -> list[tuple[dict[str, Any], bool]]:
        return [(v, False) for v in self.premade_voices] + [(v, True) for v in self.own_voices(key)]

    async def _voices_v1(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "voices")
        if failed:
            return failed
        voices = [_voice_json(v, owned=o) for v, o in self._listed_voices(key)]
        return self._respond(record, 200, {"voices": voices})

    async def _voices_v2(self, request: web.Request) -> web.Response:
        """``GET /v2/voices``: search, category / voice_type filters and token paging."""
        record, _, key, failed = await self._gate(request, "voices")
        if failed:
            return failed
        q = request.query
        voices = self._listed_voices(key)
        if search := q.get("search", "").lower():
            voices = [
                (v, o)
                for v, o in voices
                if search in v["name"].lower()
                or any(search in str(v.get(k) or "").lower() for k in _LABEL_FIELDS)
            ]
        if category := q.get("category"):
            voices = [(v, o) for v, o in voices if v["category"] == category]
        voice_type = q.get("voice_type")
        if voice_type == "default":
            voices = [(v, o) for v, o in voices if not o]
        elif voice_type in ("personal", "workspace", "non-default", "saved"):
            voices = [(v, o) for v, o in voices if o]
        try:
            page_size = max(1, min(100, int(q.get("page_size", 10))))
            start = int(q.get("next_page_token") or 0)
        except ValueError:
            return self._fail(record, 400, error_body(400, None, "invalid page_size or token"))
        page = voices[start : start + page_size]
        more = start + page_size < len(voices)
        return self._respond(
            record,
            200,
            {
                "voices": [_voice_json(v, owned=o) for v, o in page],
                "has_more": more,
                "total_count": len(voices),
                "next_page_token": str(start + page_size) if more else None,
            },
        )

    async def _voice_get(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "voices")
        if failed:
            return failed
        voice_id = request.match_info["voice_id"]
        voice = self._voice(key, voice_id)
        if voice is None:
            return self._fail(record, 404, self._voice_not_found(voice_id))
        owned = any(v["voice_id"] == voice_id for v in self.own_voices(key))
        return self._respond(record, 200, _voice_json(voice, owned=owned))

    async def _models(self, request: web.Request) -> web.Response:
        record, _, _, failed = await self._gate(request, "models")
        if failed:
            return failed
        models = [
            {
                "model_id": m,
                "name": m.replace("_", " ").title(),
                "can_do_text_to_speech": True,
                "can_do_voice_conversion": False,
                "can_use_style": True,
                "can_use_speaker_boost": True,
                "serves_pro_voices": False,
                "token_cost_factor": 0.5 if ("turbo" in m or "flash" in m) else 1.0,
                "requires_alpha_access": False,
                "max_characters_request_free_user": 2500,
                "max_characters_request_subscribed_user": 10000,
                "languages": [{"language_id": "en", "name": "English"}],
            }
            for m in (*TTS_MODELS, *DIALOGUE_MODELS)
        ]
        return self._respond(record, 200, models)

    async def _token(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "token")
        if failed:
            return failed
        token_type = request.match_info["token_type"]
        if token_type not in ("realtime_scribe", "tts_websocket"):
            return self._fail(record, 422, _validation_error("token_type", "Invalid token type"))
        token = f"sutkn_{uuid.uuid4().hex}"
        self._tokens[token] = key
        return self._respond(record, 200, {"token": token})

    @staticmethod
    def _voice_not_found(voice_id: str) -> dict:
        return error_body(
            404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found."
        )

    # --- text to speech over HTTP ----------------------------------------------------------

    async def _tts(self, request: web.Request) -> web.StreamResponse:
        return await self._tts_http(request, "tts", streaming=False)

    async def _tts_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._tts_http(request, "tts_stream", streaming=True)

    async def _dialogue(self, request: web.Request) -> web.StreamResponse:
        return await self._tts_http(request, "dialogue", streaming=False, dialogue=True)

    async def _dialogue_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._tts_http(request, "dialogue", streaming=True, dialogue=True)

    async def _tts_http(
        self, request: web.Request, route: str, *, streaming: bool, dialogue: bool = False
    ) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        output_format = request.query.get("output_format", "mp3_44100_128")
        if dialogue:
            inputs = body.get("inputs") if isinstance(body, dict) else None
            pieces = [
                (str(i.get("text") or ""), str(i.get("voice_id") or ""))
                for i in inputs or []
                if isinstance(i, dict)
            ]
        else:
            text = body.get("text") if isinstance(body, dict) else None
            pieces = [(text, request.match_info["voice_id"])] if isinstance(text, str) else []
        all_text = " ".join(t for t, _ in pieces)
        model = (body or {}).get("model_id") if isinstance(body, dict) else None
        model = model or ("eleven_v3" if dialogue else "eleven_multilingual_v2")
        summary = {
            "voice_ids": sorted({v for _, v in pieces}),
            "model_id": model,
            "output_format": output_format,
            "text": all_text[:500],
            "characters": len(all_text),
        }
        record, fault, key, failed = await self._gate(request, route, summary)
        if failed:
            return failed
        t0 = time.monotonic()
        if not isinstance(body, dict):
            return self._fail(record, 400, error_body(400, "invalid_json", "Body must be JSON"))
        if not pieces:
            return self._fail(record, 422, _validation_error("inputs" if dialogue else "text"))
        if not all_text.strip():
            return self._fail(record, 400, error_body(400, "empty_text", "Text is empty."))
        fmt, refused = self._model_and_format(record, model, output_format, dialogue=dialogue)
        if refused is not None:
            return refused
        voices = []
        for _, voice_id in pieces:
            voice = self._voice(key, voice_id)
            if voice is None:
                return self._fail(record, 404, self._voice_not_found(voice_id))
            voices.append(voice)
        if quota := self._quota_error(key, len(all_text)):
            return self._fail(record, 401, quota)
        language = body.get("language_code")
        parts = [
            await self._speech(t, v, language)
            for (t, _), v in zip(pieces, voices, strict=True)
            if t.strip()
        ]
        pcm = np.concatenate(parts) if parts else np.zeros(0, np.int16)
        audio = await asyncio.to_thread(encode_pcm, pcm, ESPEAK_RATE, fmt)
        if fmt.codec == "mp3":
            audio = _mp3_stream_part(audio, keep_info_frame=True)
        self._charge(key, len(all_text))
        await self._sleep_ms(self.tts_ttfb_ms - (time.monotonic() - t0) * 1000)
        duration = pcm.size / ESPEAK_RATE
        chunks = _chunk_bytes(audio, fmt, duration, self.audio_chunk_ms)
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": fmt.media_type,
                "x-character-count": str(len(all_text)),
                "history-item-id": uuid.uuid4().hex[:20],
            },
        )
        if streaming:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = len(audio)
        record.status = 200
        await resp.prepare(request)
        drop = fault.drop_after_chunks
        for i, chunk in enumerate(chunks):
            if drop is not None and i >= drop:
                break
            if i:
                await self._sleep_ms(self.state.fault(route).chunk_delay_ms)
            await resp.write(chunk)
        if drop is not None:
            record.body["dropped_after_chunks"] = drop
            self._abort(request)
            return resp
        await resp.write_eof()
        return resp

    async def _speech(
        self, text: str, voice: Mapping[str, Any], language: str | None = None
    ) -> np.ndarray:
        """espeak-ng speech for `text` in `voice`'s manner, int16 at `ESPEAK_RATE`."""
        clean = _clean_text(text)
        if not clean:
            return np.zeros(0, np.int16)
        return await asyncio.to_thread(synthesize, clean, _espeak_voice(voice, clean, language))

    # --- text to speech over websockets ----------------------------------------------------

    async def _tts_ws_multi(self, request: web.Request) -> web.StreamResponse:
        return await self._tts_ws(request, "tts_ws", "multi")

    async def _tts_ws_single(self, request: web.Request) -> web.StreamResponse:
        return await self._tts_ws(request, "tts_ws", "single")

    async def _dialogue_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._tts_ws(request, "dialogue_ws", "dialogue")

    async def _tts_ws(self, request: web.Request, route: str, dialect: str) -> web.StreamResponse:
        q = request.query
        default_format = STREAM_INPUT_DEFAULT_FORMAT if dialect == "single" else "mp3_44100_128"
        output_format = q.get("output_format", default_format)
        model = q.get("model_id", "eleven_v3" if dialect == "dialogue" else "eleven_turbo_v2_5")
        summary: dict[str, Any] = {
            "voice_id": request.match_info.get("voice_id"),
            "model_id": model,
            "output_format": output_format,
            "dialect": dialect,
            "contexts": 0,
            "text": "",
            "audio_messages": 0,
        }
        record, _, key, failed = await self._gate(request, route, summary, websocket=True)
        if failed is not None:
            return failed
        if key and not self.state.key_ok(key):
            return self._fail(record, 401)
        # without the header, the key comes in the first message (`xi_api_key`)
        fmt, refused = self._model_and_format(
            record, model, output_format, dialogue=dialect == "dialogue"
        )
        if refused is not None:
            return refused
        voice = None
        if dialect != "dialogue":
            voice_id = request.match_info["voice_id"]
            voice = self._voice(key, voice_id) if key else None
            if key and voice is None:
                return self._fail(record, 404, self._voice_not_found(voice_id))
        try:
            inactivity = float(q.get("inactivity_timeout", DEFAULT_WS_INACTIVITY_S))
        except ValueError:
            inactivity = DEFAULT_WS_INACTIVITY_S
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        record.status = 101
        self._sockets.add(ws)
        session = _TtsSocket(
            self,
            request,
            ws,
            record=record,
            route=route,
            dialect=dialect,
            fmt=fmt,
            voice=voice,
            key=key or None,
            language=q.get("language_code"),
            auto_mode=q.get("auto_mode", "false").lower() == "true",
            inactivity_timeout=min(max(inactivity, 1.0), 180.0),
        )
        try:
            await session.run()
        finally:
            self._sockets.discard(ws)
        return ws

    # --- speech to text --------------------------------------------------------------------

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

    async def _stt(self, request: web.Request) -> web.Response:
        form: Any = None
        with contextlib.suppress(Exception):
            form = await request.post()
        form = form or {}
        upload = form.get("file")
        data = b""
        if upload is not None and hasattr(upload, "file"):
            data = upload.file.read()
        elif isinstance(upload, bytes | str):
            data = upload.encode() if isinstance(upload, str) else upload
        summary = {
            "model_id": form.get("model_id"),
            "language_code": form.get("language_code"),
            "bytes": len(data),
            "diarize": form.get("diarize"),
        }
        record, _, _, failed = await self._gate(request, "stt", summary)
        if failed:
            return failed
        t0 = time.monotonic()
        model = form.get("model_id")
        if not model:
            return self._fail(record, 422, _validation_error("model_id"))
        if model not in STT_MODELS:
            message = f"Model '{model}' does not exist or cannot do speech to text."
            return self._fail(record, 400, error_body(400, "model_not_found", message))
        if upload is None and not form.get("cloud_storage_url"):
            return self._fail(
                record,
                400,
                error_body(400, "invalid_request", "Provide either file or cloud_storage_url."),
            )
        try:
            samples = await asyncio.to_thread(decode_to_mono, data, STT_RATE)
        except AudioDecodeError as exc:
            return self._fail(record, 400, error_body(400, "invalid_audio", str(exc)))
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        language = form.get("language_code") or None
        text = await self._transcribe(pcm, STT_RATE, language)
        start, end, _ = _speech_span(pcm, STT_RATE)
        words = _words(text, start, end)
        if str(form.get("diarize", "false")).lower() == "true":
            for w in words:
                w["speaker_id"] = "speaker_0"
        else:
            for w in words:
                w["speaker_id"] = None
        if form.get("timestamps_granularity") == "none":
            words = []
        await self._sleep_ms(self.stt_final_ms - (time.monotonic() - t0) * 1000)
        record.body["text"] = text
        return self._respond(
            record,
            200,
            {
                "language_code": _iso3(language),
                "language_probability": 0.98 if text else 0.0,
                "text": text,
                "words": words,
                "transcription_id": uuid.uuid4().hex,
            },
        )

    async def _stt_ws(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        summary: dict[str, Any] = {k: q.get(k) for k in ("model_id", "audio_format")}
        summary |= {
            "commit_strategy": q.get("commit_strategy", "manual"),
            "audio_chunks": 0,
            "commits": 0,
            "transcripts": [],
        }
        token = q.get("token")
        token_key = self._tokens.pop(token, None) if token else None
        record, _, key, failed = await self._gate(request, "stt_ws", summary, websocket=True)
        if failed is not None:
            return failed
        if token_key is not None and not key:
            key = record.api_key = token_key
        if not self.state.key_ok(key):
            message = "Invalid API key" if key else "Missing API key or token"
            return self._fail(record, 401, error_body(401, None, message))
        model = q.get("model_id")
        if model not in REALTIME_STT_MODELS:
            message = f"Model '{model}' is not a realtime speech to text model."
            return self._fail(record, 400, error_body(400, "model_not_found", message))
        audio_format = q.get("audio_format", "pcm_16000")
        if audio_format not in REALTIME_FORMATS:
            message = f"Unsupported audio_format {audio_format!r}."
            return self._fail(record, 400, error_body(400, "invalid_audio_format", message))
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        record.status = 101
        self._sockets.add(ws)
        try:
            await _SttSession(self, request, ws, record, audio_format).run()
        finally:
            self._sockets.discard(ws)
        return ws


# --- websocket sessions -------------------------------------------------------------------------


@dataclass
class _Context:
    id: str | None
    voice: dict[str, Any] | None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None
    buffer: str = ""
    generations: int = 0
    offset_ms: float = 0.0
    first_text_at: float | None = None
    audio_sent: bool = False
    closing: bool = False
    last_input: float = field(default_factory=time.monotonic)


class _TtsSocket:
    """One TTS input-streaming websocket.

    Dialects: ``multi`` (text-to-speech multi-stream-input: contexts, camelCase answers),
    ``single`` (stream-input: one implicit context, BOS / EOS) and ``dialogue``
    (text-to-dialogue multi-stream-input: ``inputs`` lists, snake_case answers whose alignment
    restarts at 0 in every message).
    """

    def __init__(
        self,
        server: FakeElevenLabs,
        request: web.Request,
        ws: web.WebSocketResponse,
        *,
        record: RequestRecord,
        route: str,
        dialect: str,
        fmt: OutputFormat,
        voice: dict[str, Any] | None,
        key: str | None,
        language: str | None,
        auto_mode: bool,
        inactivity_timeout: float,
    ) -> None:
        self.server = server
        self.request = request
        self.ws = ws
        self.record = record
        self.route = route
        self.dialect = dialect
        self.fmt = fmt
        self.voice = voice
        self.key = key
        self.language = language
        self.auto_mode = auto_mode
        self.inactivity_timeout = inactivity_timeout
        self.schedule: tuple[int, ...] = DEFAULT_CHUNK_SCHEDULE
        self.contexts: dict[str | None, _Context] = {}
        self.lock = asyncio.Lock()
        self.audio_messages = 0
        self.closing = False

    # --- protocol ----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while not self.ws.closed:
                try:
                    msg = await self.ws.receive(timeout=self.inactivity_timeout)
                except TimeoutError:
                    await self._close_with_error(
                        "input_timeout_exceeded",
                        f"Have not received a new text input within the timeout of "
                        f"{self.inactivity_timeout:g} seconds. Closing the socket.",
                    )
                    break
                if msg.type == WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except json.JSONDecodeError:
                        await self._close_with_error("invalid_message", "Message is not JSON.")
                        break
                    try:
                        carry_on = isinstance(data, dict) and await self._handle(data)
                    except (TypeError, ValueError, AttributeError) as exc:
                        await self._close_with_error("invalid_message", f"Invalid message: {exc}")
                        break
                    if not carry_on:
                        break
                elif msg.type == WSMsgType.BINARY:
                    await self._close_with_error("invalid_message", "Binary frames are not valid.")
                    break
                else:
                    break
        except _Dropped:
            pass
        finally:
            for ctx in self.contexts.values():
                if ctx.task is not None:
                    ctx.task.cancel()
            self.contexts.clear()

    async def _authenticate(self, data: Mapping[str, Any]) -> bool:
        if self.key is not None:
            return True
        key = data.get("xi_api_key") or ""
        auth = data.get("authorization") or ""
        if not key and auth.lower().startswith("bearer "):
            key = self.server._tokens.get(auth[7:].strip(), "")
        if not self.server.state.key_ok(key):
            await self._close_with_error("invalid_api_key", "Invalid API key", code=1008)
            return False
        self.key = key
        self.record.api_key = key
        if self.dialect != "dialogue":
            voice_id = self.request.match_info["voice_id"]
            self.voice = self.server._voice(key, voice_id)
            if self.voice is None:
                await self._close_with_error(
                    "voice_not_found", f"A voice with the voice_id {voice_id} was not found."
                )
                return False
        return True

    async def _handle(self, data: dict[str, Any]) -> bool:
        """Apply one client message; False ends the session."""
        if not await self._authenticate(data):
            return False
        if data.get("close_socket"):
            await self._finish_all()
            return False
        if self.dialect == "single":
            ctx_id = None
        else:
            ctx_id = data.get("context_id") or data.get("contextId") or "default"
        ctx = self.contexts.get(ctx_id)
        if data.get("close_context"):
            if ctx is not None and not ctx.closing:
                self._close_context(ctx)
            return True
        if self.dialect == "dialogue":
            inputs = data.get("inputs") or []
            texts = [str(i.get("text") or "") for i in inputs if isinstance(i, dict)]
            text: str | None = "".join(texts) if inputs else None
        else:
            text = data.get("text")
        if ctx is None:
            if data.get("keep_alive") and text is None:
                return True
            if sum(not c.closing for c in self.contexts.values()) >= MAX_CONTEXTS:
                await self._close_with_error(
                    "max_active_conversations",
                    f"Maximum simultaneous contexts per WebSocket connection exceeded "
                    f"({MAX_CONTEXTS}). Please close an existing context before opening a new "
                    "one.",
                )
                return False
            ctx = self._open_context(ctx_id, data)
        if ctx.closing:
            return True
        ctx.last_input = time.monotonic()
        if schedule := (data.get("generation_config") or {}).get("chunk_length_schedule"):
            self.schedule = tuple(int(n) for n in schedule) or DEFAULT_CHUNK_SCHEDULE
        if self.dialect == "single" and text == "":
            self._close_context(ctx, close_socket=True)  # EOS
            return True
        opening = text == " " and not ctx.buffer and not ctx.generations  # the BOS message
        if text and not opening:
            ctx.buffer += str(text)
            if ctx.first_text_at is None and ctx.buffer.strip():
                ctx.first_text_at = time.monotonic()
                self.record.body["contexts"] += 1
            self.record.body["text"] = (self.record.body["text"] + str(text))[-2000:]
        self._release(ctx, flush=bool(data.get("flush")))
        return True

    def _open_context(self, ctx_id: str | None, data: Mapping[str, Any]) -> _Context:
        voice = self.voice
        if self.dialect == "dialogue":
            voice_ids = list(data.get("voices") or [])
            voice_ids += [
                i.get("voice_id") for i in data.get("inputs") or [] if isinstance(i, dict)
            ]
            voice = (
                next(
                    (
                        v
                        for vid in voice_ids
                        if vid and (v := self.server._voice(self.key or "", vid))
                    ),
                    None,
                )
                or self.server.premade_voices[0]
            )
        ctx = _Context(ctx_id, voice)
        ctx.task = asyncio.create_task(self._worker(ctx))
        self.contexts[ctx_id] = ctx
        return ctx

    def _release(self, ctx: _Context, *, flush: bool) -> None:
        """Queue the buffered text that is ready for synthesis."""
        if flush:
            cut = len(ctx.buffer)
        else:
            ends = list(_SENTENCE_END.finditer(ctx.buffer))
            cut = ends[-1].end() if ends else 0
            threshold = self.schedule[min(ctx.generations, len(self.schedule) - 1)]
            if not cut and not self.auto_mode and len(ctx.buffer) >= threshold:
                cut = ctx.buffer.rfind(" ") + 1
        if cut <= 0:
            return
        text, ctx.buffer = ctx.buffer[:cut], ctx.buffer[cut:]
        if text.strip():
            ctx.generations += 1
            ctx.queue.put_nowait(("text", text))

    def _close_context(self, ctx: _Context, close_socket: bool = False) -> None:
        self._release(ctx, flush=True)
        ctx.closing = True
        ctx.queue.put_nowait(("final", close_socket))

    async def _finish_all(self) -> None:
        for ctx in list(self.contexts.values()):
            if not ctx.closing:
                self._close_context(ctx)
        tasks = [c.task for c in self.contexts.values() if c.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if not self.ws.closed:
            await self.ws.close()

    # --- output ------------------------------------------------------------------------

    async def _worker(self, ctx: _Context) -> None:
        idle = DIALOGUE_IDLE_S if self.dialect == "dialogue" else None
        try:
            while True:
                try:
                    kind, payload = await asyncio.wait_for(ctx.queue.get(), idle)
                except TimeoutError:
                    if time.monotonic() - ctx.last_input < DIALOGUE_IDLE_S:
                        continue
                    kind, payload = "final", False  # dialogue contexts end when left idle
                if kind == "text":
                    await self._generate(ctx, payload)
                    continue
                await self._send({self._key("is_final"): True, **self._ctx_field(ctx)})
                self.contexts.pop(ctx.id, None)
                if payload and not self.ws.closed:
                    await self.ws.close()
                return
        except (_Dropped, ConnectionError):
            return
        except Exception:
            logger.exception("fake ElevenLabs TTS websocket worker failed")
            with contextlib.suppress(Exception):
                await self._close_with_error("internal_error", "Synthesis failed.", code=1011)

    def _key(self, name: str) -> str:
        if self.dialect == "dialogue":
            return name
        return {"is_final": "isFinal", "context_id": "contextId"}.get(name, name)

    def _ctx_field(self, ctx: _Context) -> dict[str, Any]:
        if self.dialect == "single":
            return {}
        return {self._key("context_id"): ctx.id}

    async def _generate(self, ctx: _Context, text: str) -> None:
        server = self.server
        key = self.key or ""
        if quota := server._quota_error(key, len(text)):
            await self._send({"error": "quota_exceeded", **quota["detail"], **self._ctx_field(ctx)})
            return
        assert ctx.voice is not None
        pcm = await server._speech(text, ctx.voice, self.language)
        if pcm.size == 0:
            return
        audio = await asyncio.to_thread(encode_pcm, pcm, ESPEAK_RATE, self.fmt)
        if self.fmt.codec == "mp3":
            audio = _mp3_stream_part(audio, keep_info_frame=not ctx.audio_sent)
        server._charge(key, len(text))
        duration_ms = pcm.size / ESPEAK_RATE * 1000
        fault = server.state.fault(self.route)
        if not ctx.audio_sent and ctx.first_text_at is not None:
            elapsed_ms = (time.monotonic() - ctx.first_text_at) * 1000
            await server._sleep_ms(max(server.tts_ttfb_ms - elapsed_ms, 0) + fault.latency_ms)
        chunks = _chunk_bytes(audio, self.fmt, duration_ms / 1000, server.audio_chunk_ms)
        chars, starts, durs = _char_times(text, duration_ms)
        bounds = np.linspace(0.0, duration_ms, len(chunks) + 1)
        for i, chunk in enumerate(chunks):
            lo, hi = bounds[i], bounds[i + 1]
            last = i == len(chunks) - 1
            picked = [j for j, s in enumerate(starts) if s >= lo and (last or s < hi)]
            message: dict[str, Any] = {"audio": base64.b64encode(chunk).decode()}
            if self.dialect == "dialogue":
                message["alignment"] = (
                    {
                        "chars": [chars[j] for j in picked],
                        "char_start_times_ms": [round(starts[j] - lo) for j in picked],
                        "char_durations_ms": [round(durs[j]) for j in picked],
                    }
                    if picked
                    else None
                )
            else:
                alignment = (
                    {
                        "chars": [chars[j] for j in picked],
                        "charStartTimesMs": [round(ctx.offset_ms + starts[j]) for j in picked],
                        "charDurationsMs": [round(durs[j]) for j in picked],
                    }
                    if picked
                    else None
                )
                message["normalizedAlignment"] = alignment
                message["alignment"] = alignment
            message |= self._ctx_field(ctx)
            await self._send_audio(message)
            ctx.audio_sent = True
        ctx.offset_ms += duration_ms

    async def _send_audio(self, message: dict[str, Any]) -> None:
        fault = self.server.state.fault(self.route)
        drop = fault.drop_after_chunks
        if drop is not None and self.audio_messages >= drop:
            self._drop(drop)
        if self.audio_messages and fault.chunk_delay_ms > 0:
            await asyncio.sleep(fault.chunk_delay_ms / 1000)
        await self._send(message)
        self.audio_messages += 1
        self.record.body["audio_messages"] = self.audio_messages
        if drop is not None and self.audio_messages >= drop:
            self._drop(drop)

    def _drop(self, after: int) -> None:
        self.record.body["dropped_after_chunks"] = after
        self.server._abort(self.request)
        raise _Dropped

    async def _send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            if self.ws.closed:
                raise ConnectionError("websocket closed")
            await self.ws.send_str(json.dumps(message))

    async def _close_with_error(self, error: str, message: str, code: int = 1008) -> None:
        with contextlib.suppress(Exception):
            await self._send({"message": message, "error": error, "code": code})
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=error.encode()[:120])


class _SttSession:
    """One Scribe v2 realtime websocket: audio in, partial and committed transcripts out."""

    def __init__(
        self,
        server: FakeElevenLabs,
        request: web.Request,
        ws: web.WebSocketResponse,
        record: RequestRecord,
        audio_format: str,
    ) -> None:
        q = request.query
        self.server = server
        self.request = request
        self.ws = ws
        self.record = record
        self.audio_format = audio_format
        self.rate = REALTIME_FORMATS[audio_format]
        self.language = q.get("language_code")
        self.vad = q.get("commit_strategy", "manual") == "vad"
        self.include_timestamps = q.get("include_timestamps", "false").lower() == "true"
        self.detect_language = q.get("include_language_detection", "false").lower() == "true"

        def number(name: str, default: float) -> float:
            try:
                return float(q.get(name, default))
            except ValueError:
                return default

        self.vad_silence_s = number("vad_silence_threshold_secs", 1.5)
        self.vad_threshold = number("vad_threshold", 0.4)
        self.min_speech_ms = number("min_speech_duration_ms", 100)
        self.min_silence_ms = number("min_silence_duration_ms", 100)
        self.session_id = uuid.uuid4().hex
        self.segment: list[np.ndarray] = []
        self.segment_samples = 0
        self.segment_start = 0.0
        """Session time (s) where the uncommitted audio starts."""
        self.generation = 0
        self.since_partial = 0
        self.partial_task: asyncio.Task | None = None
        self.commits: asyncio.Queue = asyncio.Queue()
        self.lock = asyncio.Lock()
        self.audio_chunks = 0
        self.vad_tail = np.zeros(0, np.int16)
        self.voiced_run_ms = 0.0
        self.silence_run_ms = 0.0
        self.in_speech = False

    async def run(self) -> None:
        await self._send(
            {
                "message_type": "session_started",
                "session_id": self.session_id,
                "config": {
                    "sample_rate": self.rate,
                    "audio_format": self.audio_format,
                    "language_code": self.language,
                    "model_id": self.request.query.get("model_id"),
                    "commit_strategy": "vad" if self.vad else "manual",
                    "vad_silence_threshold_secs": self.vad_silence_s,
                    "vad_threshold": self.vad_threshold,
                    "min_speech_duration_ms": self.min_speech_ms,
                    "min_silence_duration_ms": self.min_silence_ms,
                    "enable_logging": self.request.query.get("enable_logging", "true") == "true",
                    "include_timestamps": self.include_timestamps,
                    "include_language_detection": self.detect_language,
                },
            }
        )
        committer = asyncio.create_task(self._commit_worker())
        try:
            while not self.ws.closed:
                msg = await self.ws.receive()
                if msg.type != WSMsgType.TEXT:
                    break
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    await self._error("input_error", "Message is not valid JSON.")
                    break
                try:
                    carry_on = await self._handle(data)
                except (TypeError, ValueError, AttributeError) as exc:
                    await self._error("input_error", f"Invalid message: {exc}")
                    break
                if not carry_on:
                    break
        except _Dropped:
            pass
        finally:
            if self.partial_task is not None:
                self.partial_task.cancel()
            if not self.ws.closed and not committer.done():
                self.commits.put_nowait(None)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(committer, 30)
            committer.cancel()

    async def _handle(self, data: Any) -> bool:
        kind = data.get("message_type") if isinstance(data, dict) else None
        if kind == "commit":
            return await self._commit(manual=True)
        if kind != "input_audio_chunk":
            await self._error("input_error", f"Unknown message_type {kind!r}.")
            return False
        try:
            raw = base64.b64decode(data.get("audio_base_64") or "", validate=True)
        except (ValueError, TypeError):
            await self._error("input_error", "audio_base_64 is not valid base64.")
            return False
        if data.get("previous_text"):
            self.record.body["previous_text"] = str(data["previous_text"])[:50]
        if raw:
            if self.audio_format == "ulaw_8000":
                pcm = _ulaw_to_int16(raw)
            else:
                pcm = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
                rate = int(data.get("sample_rate") or self.rate)
                if rate != self.rate:
                    pcm = resample(pcm, rate, self.rate)
            self._add_audio(pcm)
            self.audio_chunks += 1
            self.record.body["audio_chunks"] = self.audio_chunks
            fault = self.server.state.fault("stt_ws")
            if fault.drop_after_chunks is not None and self.audio_chunks >= fault.drop_after_chunks:
                self.record.body["dropped_after_chunks"] = fault.drop_after_chunks
                self.server._abort(self.request)
                raise _Dropped
            if self.vad and self._vad_says_commit(pcm):
                await self._commit(manual=False)
            else:
                self._maybe_partial()
        if data.get("commit"):
            return await self._commit(manual=True)
        return True

    def _add_audio(self, pcm: np.ndarray) -> None:
        self.segment.append(pcm)
        self.segment_samples += pcm.size
        self.since_partial += pcm.size

    def _vad_says_commit(self, pcm: np.ndarray) -> bool:
        frames = np.concatenate([self.vad_tail, pcm])
        n = int(self.rate * 0.02)
        usable = frames.size // n * n
        self.vad_tail = frames[usable:]
        for voiced in _voiced_mask(frames[:usable], self.rate):
            if voiced:
                self.voiced_run_ms += 20
                self.silence_run_ms = 0
                if self.voiced_run_ms >= self.min_speech_ms:
                    self.in_speech = True
            else:
                self.silence_run_ms += 20
                if self.silence_run_ms >= self.min_silence_ms:
                    self.voiced_run_ms = 0
                if self.in_speech and self.silence_run_ms >= self.vad_silence_s * 1000:
                    self.in_speech = False
                    self.voiced_run_ms = 0
                    return True
        return False

    def _maybe_partial(self) -> None:
        interval = self.server.stt_partial_interval_ms
        if interval <= 0 or self.since_partial < self.rate * interval / 1000:
            return
        if self.partial_task is not None and not self.partial_task.done():
            return
        self.since_partial = 0
        audio = np.concatenate(self.segment) if self.segment else np.zeros(0, np.int16)
        self.partial_task = asyncio.create_task(self._partial(audio, self.generation))

    async def _partial(self, audio: np.ndarray, generation: int) -> None:
        with contextlib.suppress(_Dropped, ConnectionError):
            text = await self._text_so_far(audio)
            if text and generation == self.generation and not self.ws.closed:
                await self._send({"message_type": "partial_transcript", "text": text})

    async def _text_so_far(self, audio: np.ndarray) -> str:
        fixed = self.server.transcriber.fixed
        if fixed is None:
            return await self.server._transcribe(audio, self.rate, self.language)
        _, _, voiced = _speech_span(audio, self.rate)
        if voiced < 0.1:
            return ""
        words = fixed.split()
        return " ".join(words[: max(1, min(len(words), int(voiced / 0.3) + 1))])

    async def _commit(self, *, manual: bool) -> bool:
        seconds = self.segment_samples / self.rate
        if manual and seconds < MIN_COMMIT_SECONDS - 1e-6:
            message = (
                f"Commit request ignored: only {seconds:.2f}s of uncommitted audio. You need at "
                f"least {MIN_COMMIT_SECONDS}s of uncommitted audio before committing."
            )
            await self._send({"message_type": "commit_throttled", "error": message})
            with contextlib.suppress(Exception):
                await self.ws.close(code=1000, message=b"commit_throttled")
            return False
        audio = np.concatenate(self.segment) if self.segment else np.zeros(0, np.int16)
        self.commits.put_nowait((audio, self.segment_start, time.monotonic()))
        self.segment_start += seconds
        self.segment, self.segment_samples, self.since_partial = [], 0, 0
        self.generation += 1
        self.record.body["commits"] += 1
        return True

    async def _commit_worker(self) -> None:
        with contextlib.suppress(_Dropped, ConnectionError):
            while (item := await self.commits.get()) is not None:
                audio, offset, committed_at = item
                text = await self.server._transcribe(audio, self.rate, self.language)
                fault = self.server.state.fault("stt_ws")
                elapsed_ms = (time.monotonic() - committed_at) * 1000
                wait = max(self.server.stt_final_ms - elapsed_ms, 0) + fault.latency_ms
                await self.server._sleep_ms(wait)
                self.record.body["transcripts"].append(text)
                await self._send({"message_type": "committed_transcript", "text": text})
                if self.include_timestamps or self.detect_language:
                    start, end, _ = _speech_span(audio, self.rate)
                    message = {
                        "message_type": "committed_transcript_with_timestamps",
                        "text": text,
                        "words": _words(text, start, end, offset),
                    }
                    if self.detect_language or self.language:
                        message["language_code"] = _iso3(self.language)
                    await self._send(message)

    async def _send(self, message: dict[str, Any]) -> None:
        fault = self.server.state.fault("stt_ws")
        if message["message_type"] != "session_started":
            await self.server._sleep_ms(fault.chunk_delay_ms)
        async with self.lock:
            if self.ws.closed:
                raise ConnectionError("websocket closed")
            await self.ws.send_str(json.dumps(message))

    async def _error(self, kind: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await self._send({"message_type": kind, "error": message})
        with contextlib.suppress(Exception):
            await self.ws.close(code=1008, message=kind.encode())


# --- command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fake_providers.elevenlabs", description="A local fake ElevenLabs API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--tts-ttfb-ms", type=float, default=0.0)
    parser.add_argument("--stt-final-ms", type=float, default=0.0)
    parser.add_argument("--stt-partial-interval-ms", type=float, default=500.0)
    parser.add_argument("--audio-chunk-ms", type=float, default=200.0)
    parser.add_argument(
        "--fixed-transcript", default=None, help="answer STT with this text instead of Whisper"
    )
    parser.add_argument(
        "--valid-key",
        action="append",
        default=None,
        help="accept only these API keys (repeatable; default: any non-empty key)",
    )
    parser.add_argument("--character-limit", type=int, default=100_000)
    parser.add_argument("--tier", default="creator")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = FakeElevenLabs(
        valid_keys=args.valid_key,
        fixed_transcript=args.fixed_transcript,
        tts_ttfb_ms=args.tts_ttfb_ms,
        stt_final_ms=args.stt_final_ms,
        stt_partial_interval_ms=args.stt_partial_interval_ms,
        audio_chunk_ms=args.audio_chunk_ms,
        tier=args.tier,
        character_limit=args.character_limit,
    )

    serve_forever(server, args.host, args.port)


if __name__ == "__main__":
    main()
