"""OpenAI's wire vocabulary: models, speech formats, limits, the error envelope, tokens."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

DEFAULT_MODELS = (
    "gpt-4o-mini",
    "text-embedding-3-small",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "tts-1",
    "tts-1-hd",
    "gpt-4o-mini-tts",
)

SPEECH_RATE = 24000
SPEECH_FORMATS = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
AUDIO_STREAM_ONLY_MODELS = {"tts-1", "tts-1-hd"}
SPEECH_CHUNK_SECONDS = 0.1
MAX_SPEECH_INPUT = 4096
MAX_UPLOAD_BYTES = 25 * 1024 * 1024

_LANGUAGE_NAMES = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
    "ja": "japanese",
    "zh": "chinese",
    "ru": "russian",
}

_ERROR_KINDS = {
    400: ("invalid_request_error", None, "Injected bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again shortly.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_body(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    param: str | None = None,
    type_: str | None = None,
) -> dict[str, Any]:
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    kind, default_code, default_message = _ERROR_KINDS.get(
        status,
        ("server_error", None, "Injected error.")
        if status >= 500
        else ("invalid_request_error", None, "Injected error."),
    )
    return {
        "error": {
            "message": message or default_message,
            "type": type_ or kind,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex


def _tokens(text: str) -> list[str]:
    """Word-sized tokens with their leading spaces, so they join back into `text`."""
    return re.findall(r"\s*\S+", text) or ([text] if text else [])


def _count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text.split()) * 4 / 3)) if text.strip() else 0


def _message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part.get("text", "")
            for part in content
            if isinstance(part, Mapping) and part.get("type") in ("text", "input_text")
        ]
        return " ".join(p for p in parts if p)
    return ""


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"
