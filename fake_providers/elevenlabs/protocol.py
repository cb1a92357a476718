"""ElevenLabs' wire vocabulary: header, models, audio formats, limits, error bodies, language
codes."""

from __future__ import annotations

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
