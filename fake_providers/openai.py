"""A local stand-in for the OpenAI REST API: models, chat completions, transcription and speech.

It answers the documented wire format closely enough for the official ``openai`` SDK and the
``livekit.plugins.openai`` LLM, STT (transcriptions endpoint) and TTS to run unchanged against
it by base URL (``http://127.0.0.1:PORT/v1``):

* ``GET /v1/models`` and ``GET /v1/models/{id}`` (route ``models``).
* ``POST /v1/chat/completions`` (route ``chat``): JSON or SSE (``stream=true``, with the final
  usage chunk when ``stream_options.include_usage`` is set). Replies are deterministic: a
  scripted list, or ``"You said: <last user text>. Here is my answer."``. With ``tools`` in the
  request, a user message naming a tool (``get_weather`` or ``get weather``) or containing a
  configured trigger phrase is answered with a ``tool_calls`` message; the ``tool`` messages that
  come back are answered in text. Time to first token and inter-token delay are configurable.
* ``POST /v1/audio/transcriptions`` (route ``transcriptions``): multipart upload of any format
  FFmpeg decodes, transcribed by Whisper or a fixed text; ``response_format`` json, text,
  verbose_json (whisper-1), srt and vtt (whisper-1); ``stream=true`` answers
  ``transcript.text.delta`` / ``transcript.text.done`` SSE events (ignored for whisper-1, as
  OpenAI does).
* ``POST /v1/audio/speech`` (route ``speech``): espeak-ng speech at 24 kHz encoded as mp3,
  opus (Ogg), aac (ADTS), flac, wav or pcm (raw s16le mono), streamed in ~100 ms chunks, or as
  ``speech.audio.delta`` / ``speech.audio.done`` SSE events when ``stream_format="sse"``.

Every route checks ``Authorization: Bearer <key>`` against ``state.valid_keys`` (any non-empty
key when None) and honours the `Fault` set for its route name: an error status answered with
OpenAI's error JSON (``retry-after`` on 429), latency before the first byte, a delay between
streamed chunks, and a connection dropped mid-stream without a clean end. Besides the shared
``/_fake/faults``, ``/_fake/requests`` and ``/_fake/reset``, ``POST /_fake/config`` changes the
scripted replies, tool triggers (``{phrase: {"name", "arguments"}}``), latencies or fixed
transcript of a running server.

Run it standalone with ``python -m fake_providers.openai --port 8791``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import math
import re
import time
import uuid
import wave
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, cast

import av
import numpy as np
from aiohttp import web

from fake_providers.common import (
    ESPEAK_RATE,
    FakeState,
    Fault,
    RequestRecord,
    Transcriber,
    apply_latency,
    synthesize,
)
from fake_providers.server import FakeServer, serve_forever
from shared.audio import AudioDecodeError, decode_to_mono, encode_pcm, resample

__all__ = ["DEFAULT_MODELS", "FakeOpenAI", "main"]

DEFAULT_MODELS = (
    "gpt-4o-mini",
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


def _example_value(schema: Mapping[str, Any], text: str) -> Any:
    """A plausible, deterministic value for one JSON-schema property."""
    if not isinstance(schema, Mapping):
        return text
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options:
            return _example_value(options[0], text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return _example_arguments(schema, text)
    return text


def _example_arguments(parameters: Mapping[str, Any] | None, text: str) -> dict[str, Any]:
    """Arguments for every property of a tool's parameter schema (strict schemas need all)."""
    properties = (parameters or {}).get("properties") or {}
    return {name: _example_value(schema, text) for name, schema in properties.items()}


@dataclass
class _ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class _Plan:
    """What one chat completion answers: text, or tool calls."""

    text: str | None = None
    tool_calls: list[_ToolCall] | None = None


def _encode_with_av(
    pcm: np.ndarray, rate: int, container_format: str, encoder: Literal["aac", "flac"]
) -> bytes:
    """Encode mono int16 `pcm` with PyAV (for aac and flac, which `encode_pcm` lacks)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=rate, layout="mono")
        if pcm.size:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = 0
            frame.time_base = Fraction(1, rate)
            resampler = av.AudioResampler(
                format=stream.codec_context.format.name, layout="mono", rate=rate
            )
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def encode_speech(pcm24k: np.ndarray, response_format: str) -> bytes:
    """Encode 24 kHz mono int16 speech as OpenAI's ``response_format`` would deliver it."""
    pcm24k = np.ascontiguousarray(pcm24k, dtype=np.int16)
    if response_format == "pcm":
        return pcm24k.astype("<i2").tobytes()
    if response_format == "wav":
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SPEECH_RATE)
            wav.writeframes(pcm24k.astype("<i2").tobytes())
        return buffer.getvalue()
    if response_format == "mp3":
        return encode_pcm(pcm24k, SPEECH_RATE, "mp3_24000_48")
    if response_format == "opus":
        return encode_pcm(pcm24k, SPEECH_RATE, "opus_48000_64")
    if response_format == "aac":
        return _encode_with_av(pcm24k, SPEECH_RATE, "adts", "aac")
    if response_format == "flac":
        return _encode_with_av(pcm24k, SPEECH_RATE, "flac", "flac")
    raise ValueError(f"unsupported response_format {response_format!r}")


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


class FakeOpenAI(FakeServer):
    """The fake OpenAI server: ``async start()`` / ``stop()``, or ``with FakeOpenAI() as f``.

    Args:
        state: faults, request log and accepted keys (a new `FakeState` by default).
        api_keys: the keys accepted (sets ``state.valid_keys``); any non-empty key when None.
        replies: scripted assistant replies used in order (then the default reply), or a
            callable taking the request's ``messages`` and returning the reply text.
        tool_triggers: ``{phrase: (tool_name, arguments)}``; a last user message containing
            the phrase (case-insensitive) calls that tool, when the request offers it, with
            exactly these arguments.
        ttft_ms: time to first token of a chat completion.
        token_ms: delay between streamed tokens (and per token, for non-streamed answers).
        stt_ms: minimum time a transcription takes (Whisper's own time counts towards it).
        tts_ttfb_ms: time before the speech response's headers and first audio chunk.
        fixed_transcript: answer every transcription with this text instead of Whisper.
        transcriber: a ready `Transcriber` (overrides `fixed_transcript`).
        models: the ids listed by ``GET /v1/models``.
        retry_after_s: the ``retry-after`` header value sent with an injected 429.
    """

    title = "OpenAI"
    slug = "openai"
    client_max_size = MAX_UPLOAD_BYTES + 1024 * 1024

    def __init__(
        self,
        *,
        state: FakeState | None = None,
        api_keys: Iterable[str] | None = None,
        replies: Sequence[str] | Callable[[list[dict[str, Any]]], str] | None = None,
        tool_triggers: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
        ttft_ms: float = 0.0,
        token_ms: float = 0.0,
        stt_ms: float = 0.0,
        tts_ttfb_ms: float = 0.0,
        fixed_transcript: str | None = None,
        transcriber: Transcriber | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        retry_after_s: float = 1.0,
    ) -> None:
        super().__init__(
            state=state,
            valid_keys=api_keys,
            fixed_transcript=fixed_transcript,
            transcriber=transcriber,
        )
        self.reply_fn: Callable[[list[dict[str, Any]]], str] | None = None
        self.replies: list[str] = []
        if callable(replies):
            self.reply_fn = replies
        elif replies is not None:
            self.replies = list(replies)
        self.tool_triggers: dict[str, tuple[str, dict[str, Any]]] = {
            phrase: (name, dict(args)) for phrase, (name, args) in (tool_triggers or {}).items()
        }
        self.ttft_ms = ttft_ms
        self.token_ms = token_ms
        self.stt_ms = stt_ms
        self.tts_ttfb_ms = tts_ttfb_ms
        self.models = list(models)
        self.retry_after_s = retry_after_s
        self._created = int(time.time())

    # --- the app -------------------------------------------------------------------------------

    def middlewares(self) -> list[Any]:
        return [self._errors_middleware]

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_fake/config", self._set_config),
            web.get("/v1/models", self._route("models", self._list_models)),
            web.get("/v1/models/{model}", self._route("models", self._get_model)),
            web.post("/v1/chat/completions", self._route("chat", self._chat)),
            web.post(
                "/v1/audio/transcriptions",
                self._route("transcriptions", self._transcriptions),
            ),
            web.post("/v1/audio/speech", self._route("speech", self._speech)),
        ]

    # --- plumbing -------------------------------------------------------------------------------

    @web.middleware
    async def _errors_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = f"Invalid URL ({request.method} {request.path})"
            if exc.status == 413:
                message = "Request body too large."
            response = self._error(exc.status, message, code=None)
        if not response.prepared:
            response.headers.setdefault("x-request-id", _request_id())
            response.headers.setdefault("openai-version", "2020-10-01")
        return response

    def _error(
        self,
        status: int,
        message: str | None = None,
        *,
        body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> web.Response:
        """An OpenAI error response (`body`, e.g. a `Fault.body`, replaces the generated JSON)."""
        headers = {"x-request-id": _request_id()}
        if status == 429:
            headers["retry-after"] = f"{self.retry_after_s:g}"
        payload = body if body is not None else error_body(status, message, **kwargs)
        return web.json_response(payload, status=status, headers=headers)

    def _bad_request(self, message: str, param: str | None = None, code: str | None = None):
        return self._error(400, message, param=param, code=code)

    def _route(
        self,
        name: str,
        handler: Callable[[web.Request, RequestRecord, Fault], Any],
    ) -> Callable[[web.Request], Any]:
        """Log the request, apply latency, check the key, then any injected status."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            auth = request.headers.get("Authorization", "")
            key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            record = self.state.log(name, request, key)
            fault = self.state.fault(name)
            await apply_latency(fault)
            if not self.state.key_ok(key):
                message = (
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                    if not key
                    else "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys."
                )
                response: web.StreamResponse = self._error(401, message, code="invalid_api_key")
            elif (status := fault.take_status()) is not None:
                response = self._error(status, body=fault.body)
            else:
                response = await handler(request, record, fault)
            record.status = response.status
            return response

        return wrapped

    async def _write_stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        pieces: Iterable[tuple[float, bytes]],
        fault: Fault,
    ) -> bool:
        """Write `(delay_ms, bytes)` pieces; False when the fault dropped the connection.

        `fault.chunk_delay_ms` is added before every piece after the first, and
        `fault.drop_after_chunks` closes the connection after that many pieces.
        """
        for index, (delay_ms, data) in enumerate(pieces):
            if fault.drop_after_chunks is not None and index >= fault.drop_after_chunks:
                self._abort(request)
                return False
            await self._sleep_ms(delay_ms + (fault.chunk_delay_ms if index else 0.0))
            try:
                await response.write(data)
            except ConnectionError:
                return False
        return True

    async def _set_config(self, request: web.Request) -> web.Response:
        """``POST /_fake/config``: change replies, triggers or latencies of a running server."""
        payload = await request.json()
        if "replies" in payload:
            self.replies = list(payload["replies"] or [])
            self.reply_fn = None
        if "tool_triggers" in payload:
            self.tool_triggers = {
                phrase: (spec["name"], dict(spec.get("arguments") or {}))
                for phrase, spec in (payload["tool_triggers"] or {}).items()
            }
        for field in ("ttft_ms", "token_ms", "stt_ms", "tts_ttfb_ms", "retry_after_s"):
            if field in payload:
                setattr(self, field, float(payload[field]))
        if "fixed_transcript" in payload:
            self.transcriber = Transcriber(fixed=payload["fixed_transcript"])
        return web.json_response(
            {
                "replies": self.replies,
                "tool_triggers": {
                    p: {"name": n, "arguments": a} for p, (n, a) in self.tool_triggers.items()
                },
                "ttft_ms": self.ttft_ms,
                "token_ms": self.token_ms,
                "stt_ms": self.stt_ms,
                "tts_ttfb_ms": self.tts_ttfb_ms,
                "retry_after_s": self.retry_after_s,
                "fixed_transcript": self.transcriber.fixed,
            }
        )

    # --- models ---------------------------------------------------------------------------------

    def _model_object(self, model: str) -> dict[str, Any]:
        owner = "openai-internal" if model.startswith(("whisper", "tts")) else "system"
        return {"id": model, "object": "model", "created": self._created, "owned_by": owner}

    async def _list_models(self, request: web.Request, record: RequestRecord, fault: Fault):
        return web.json_response(
            {"object": "list", "data": [self._model_object(m) for m in self.models]}
        )

    async def _get_model(self, request: web.Request, record: RequestRecord, fault: Fault):
        model = request.match_info["model"]
        if model not in self.models:
            return self._error(
                404,
                f"The model '{model}' does not exist",
                code="model_not_found",
                param="model",
            )
        return web.json_response(self._model_object(model))

    # --- chat -----------------------------------------------------------------------------------

    def _default_reply(self, messages: list[dict[str, Any]]) -> str:
        last_user = next(
            (_message_text(m) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        said = last_user.strip().rstrip(".!? ")
        if not said:
            return "Hello! How can I help you today?"
        return f"You said: {said}. Here is my answer."

    def _text_reply(self, messages: list[dict[str, Any]], tool_results: list[str] | None) -> str:
        if self.reply_fn is not None:
            return self.reply_fn(messages)
        if self.replies:
            return self.replies.pop(0)
        if tool_results:
            return "Here is what I found: " + "; ".join(tool_results) + "."
        return self._default_reply(messages)

    def _match_tools(
        self, body: Mapping[str, Any], text: str, tools: list[Mapping[str, Any]]
    ) -> list[_ToolCall]:
        by_name = {t["name"]: t for t in tools}
        tool_choice = body.get("tool_choice", "auto")
        lowered = text.lower()
        chosen: list[tuple[str, dict[str, Any]]] = []

        if isinstance(tool_choice, Mapping):
            name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
            if name in by_name:
                args = next(
                    (a for p, (n, a) in self.tool_triggers.items() if n == name and p in lowered),
                    None,
                )
                chosen.append(
                    (
                        cast(str, name),  # a key of by_name
                        args if args is not None else self._args_for(by_name[name], text),
                    )
                )
        else:
            for phrase, (name, args) in self.tool_triggers.items():
                taken = name in [c[0] for c in chosen]
                if phrase.lower() in lowered and name in by_name and not taken:
                    chosen.append((name, args))
            for name, tool in by_name.items():
                mentioned = name.lower() in lowered or name.lower().replace("_", " ") in lowered
                if mentioned and name not in [c[0] for c in chosen]:
                    chosen.append((name, self._args_for(tool, text)))
            if not chosen and tool_choice == "required" and tools:
                first = tools[0]
                chosen.append((first["name"], self._args_for(first, text)))

        if body.get("parallel_tool_calls") is False:
            chosen = chosen[:1]
        return [
            _ToolCall("call_" + uuid.uuid4().hex[:24], name, json.dumps(args))
            for name, args in chosen
        ]

    @staticmethod
    def _args_for(tool: Mapping[str, Any], text: str) -> dict[str, Any]:
        return _example_arguments(tool.get("parameters"), text.strip())

    def _plan(self, body: Mapping[str, Any]) -> _Plan:
        messages: list[dict[str, Any]] = body["messages"]
        tools = [
            t["function"]
            for t in body.get("tools") or []
            if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
        ]
        last = messages[-1]
        if last.get("role") == "tool":
            names: dict[str, str] = {}
            for message in messages:
                for call in message.get("tool_calls") or []:
                    names[call.get("id", "")] = (call.get("function") or {}).get("name", "")
            results: list[str] = []
            for message in reversed(messages):
                if message.get("role") != "tool":
                    break
                results.insert(0, _message_text(message).strip())
            return _Plan(text=self._text_reply(messages, results))
        if tools and body.get("tool_choice", "auto") != "none" and last.get("role") == "user":
            calls = self._match_tools(body, _message_text(last), tools)
            if calls:
                return _Plan(tool_calls=calls)
        return _Plan(text=self._text_reply(messages, None))

    @staticmethod
    def _validate_chat(body: Any) -> tuple[str, str | None] | None:
        """(message, param) of the first problem with a chat request, or None."""
        if not isinstance(body, dict):
            return "The request body must be a JSON object.", None
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "you must provide a model parameter", "model"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "[] is too short - 'messages'", "messages"
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping) or message.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
                "function",
            ):
                return f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role"
        return None

    @staticmethod
    def _usage(body: Mapping[str, Any], completion_tokens: int) -> dict[str, Any]:
        prompt = sum(_count_tokens(_message_text(m)) + 3 for m in body["messages"])
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    async def _chat(self, request: web.Request, record: RequestRecord, fault: Fault):
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly.)"
            )
        record.body = body
        problem = self._validate_chat(body)
        if problem is not None:
            return self._bad_request(problem[0], param=problem[1])

        plan = self._plan(body)
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:29]
        created = int(time.time())
        model = body["model"]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")

        tokens: list[str] = []
        finish_reason = "tool_calls" if plan.tool_calls else "stop"
        if plan.text is not None:
            tokens = _tokens(plan.text)
            if isinstance(limit, int) and 0 < limit < len(tokens):
                tokens = tokens[:limit]
                finish_reason = "length"
        completion_tokens = len(tokens) + sum(
            _count_tokens(c.arguments) + 5 for c in plan.tool_calls or []
        )

        if not body.get("stream"):
            await self._sleep_ms(self.ttft_ms + self.token_ms * max(0, len(tokens) - 1))
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(tokens) if plan.tool_calls is None else None,
                "refusal": None,
                "annotations": [],
            }
            if plan.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in plan.tool_calls
                ]
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": None,
                            "finish_reason": finish_reason,
                        }
                    ],
                    "usage": self._usage(body, completion_tokens),
                    "service_tier": "default",
                    "system_fingerprint": "fp_fake",
                }
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                data["usage"] = None
            return data

        # (delay before the event in ms, event)
        events: list[tuple[float, dict[str, Any]]] = []
        if plan.tool_calls:
            events.append((self.ttft_ms, chunk({"role": "assistant", "content": None})))
            for index, call in enumerate(plan.tool_calls):
                opening = {"index": index, "id": call.id, "type": "function"}
                opening["function"] = {"name": call.name, "arguments": ""}
                events.append((self.token_ms if index else 0.0, chunk({"tool_calls": [opening]})))
                for start in range(0, len(call.arguments), 8):
                    piece = {"index": index, "function": {"arguments": call.arguments[start:][:8]}}
                    events.append((self.token_ms, chunk({"tool_calls": [piece]})))
        else:
            events.append(
                (self.ttft_ms, chunk({"role": "assistant", "content": "", "refusal": None}))
            )
            for index, token in enumerate(tokens):
                events.append((self.token_ms if index else 0.0, chunk({"content": token})))
        events.append((0.0, chunk({}, finish_reason)))
        if include_usage:
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self._usage(body, completion_tokens)
            events.append((0.0, usage_chunk))

        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "x-request-id": _request_id(),
                "openai-version": "2020-10-01",
            }
        )
        await response.prepare(request)
        pieces = [
            (delay, f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode())
            for delay, event in events
        ]
        pieces.append((0.0, b"data: [DONE]\n\n"))
        if await self._write_stream(request, response, pieces, fault):
            await response.write_eof()
        return response

    # --- transcriptions -------------------------------------------------------------------------

    async def _transcriptions(self, request: web.Request, record: RequestRecord, fault: Fault):
        if not request.content_type.startswith("multipart/"):
            return self._bad_request(
                "Invalid Content-Type header (expected multipart/form-data).", param=None
            )
        try:
            form = await request.post()
        except ValueError as exc:
            return self._bad_request(f"Could not parse multipart form: {exc}")
        upload = form.get("file")
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
        logged: dict[str, Any] = {}
        for key, value in form.items():
            if key == "file" or not isinstance(value, str):
                continue
            if key.endswith("[]"):
                logged.setdefault(key[:-2], []).append(value)
            else:
                logged[key] = value
        if isinstance(upload, web.FileField):
            data = upload.file.read()
            logged["file"] = {"filename": upload.filename, "bytes": len(data)}
        else:
            data = b""
        record.body = logged

        if not isinstance(upload, web.FileField):
            return self._bad_request("you must provide a file parameter", param="file")
        model = fields.get("model")
        if not model:
            return self._bad_request("you must provide a model parameter", param="model")
        response_format = fields.get("response_format", "json")
        is_whisper = model.startswith("whisper")
        allowed = ("json", "text", "srt", "verbose_json", "vtt") if is_whisper else ("json", "text")
        if response_format not in allowed:
            return self._bad_request(
                f"response_format '{response_format}' is not compatible with model '{model}'. "
                f"Use {' or '.join(repr(a) for a in allowed)} instead.",
                param="response_format",
                code="unsupported_value",
            )
        languages = logged.get("languages")
        language = fields.get("language") or (languages[0] if languages else None)
        stream = fields.get("stream", "false").lower() == "true" and not is_whisper

        started = time.monotonic()
        try:
            audio = await asyncio.to_thread(decode_to_mono, data, 16000)
        except AudioDecodeError:
            return self._bad_request(
                "Audio file might be corrupted or unsupported", param="file", code="invalid_value"
            )
        text = await asyncio.to_thread(self.transcriber.transcribe, audio, language or "en")
        text = text.strip()
        remaining = self.stt_ms / 1000 - (time.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)

        duration = len(audio) / 16000
        lang = (language or "en").split("-")[0].lower()
        output_tokens = _count_tokens(text)
        input_tokens = max(1, int(duration * 10))
        token_usage = {
            "type": "tokens",
            "input_tokens": input_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": input_tokens},
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        duration_usage = {"type": "duration", "seconds": math.ceil(duration)}
        usage = duration_usage if is_whisper else token_usage
        languages_out = [{"code": lang}] if model.startswith("gpt-transcribe") else None

        if stream:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    "x-request-id": _request_id(),
                }
            )
            await response.prepare(request)
            done: dict[str, Any] = {"type": "transcript.text.done", "text": text, "usage": usage}
            if languages_out is not None:
                done["languages"] = languages_out
            events = [
                {"type": "transcript.text.delta", "delta": token, "logprobs": []}
                for token in _tokens(text)
            ]
            events.append(done)
            pieces = [(0.0, f"data: {json.dumps(e)}\n\n".encode()) for e in events]
            if await self._write_stream(request, response, pieces, fault):
                await response.write_eof()
            return response

        if response_format == "text":
            return web.Response(text=text + "\n", content_type="text/plain", charset="utf-8")
        if response_format in ("srt", "vtt"):
            sep = "," if response_format == "srt" else "."
            span = f"{_timestamp(0, sep)} --> {_timestamp(duration, sep)}"
            body = (
                f"1\n{span}\n{text}\n\n"
                if response_format == "srt"
                else f"WEBVTT\n\n{span}\n{text}\n\n"
            )
            return web.Response(text=body, content_type="text/plain", charset="utf-8")
        if response_format == "verbose_json":
            words = text.split()
            step = duration / len(words) if words else 0.0
            result: dict[str, Any] = {
                "task": "transcribe",
                "language": _LANGUAGE_NAMES.get(lang, lang),
                "duration": round(duration, 2),
                "text": text,
                "segments": [
                    {
                        "id": 0,
                        "seek": 0,
                        "start": 0.0,
                        "end": round(duration, 2),
                        "text": " " + text if text else "",
                        "tokens": list(range(50364, 50364 + len(words))),
                        "temperature": 0.0,
                        "avg_logprob": -0.2,
                        "compression_ratio": 1.0,
                        "no_speech_prob": 0.01,
                    }
                ]
                if text
                else [],
                "usage": duration_usage,
            }
            granularities = logged.get("timestamp_granularities") or []
            if "word" in granularities:
                result["words"] = [
                    {"word": w, "start": round(i * step, 2), "end": round((i + 1) * step, 2)}
                    for i, w in enumerate(words)
                ]
                if "segment" not in granularities:
                    result.pop("segments")
            return web.json_response(result)
        result = {"text": text, "usage": usage}
        if languages_out is not None:
            result["languages"] = languages_out
        return web.json_response(result)

    # --- speech ---------------------------------------------------------------------------------

    async def _speech(self, request: web.Request, record: RequestRecord, fault: Fault):
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._bad_request("We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._bad_request("The request body must be a JSON object.")
        record.body = body
        for required in ("model", "voice"):
            if not body.get(required):
                return self._bad_request(f"you must provide a {required} parameter", param=required)
        text = body.get("input")
        if not isinstance(text, str):
            return self._bad_request("you must provide an input parameter", param="input")
        if len(text) > MAX_SPEECH_INPUT:
            return self._bad_request(
                f"'{text[:20]}...' is too long - 'input'",
                param="input",
                code="string_above_max_length",
            )
        response_format = body.get("response_format", "mp3")
        if response_format not in SPEECH_FORMATS:
            return self._bad_request(
                f"Invalid value: '{response_format}'. Supported values are: "
                + ", ".join(f"'{f}'" for f in SPEECH_FORMATS),
                param="response_format",
                code="invalid_value",
            )
        try:
            speed = float(body.get("speed", 1.0))
        except (TypeError, ValueError):
            speed = -1.0
        if not 0.25 <= speed <= 4.0:
            return self._bad_request(
                "speed must be between 0.25 and 4.0", param="speed", code="invalid_value"
            )
        stream_format = body.get("stream_format", "audio")
        if stream_format not in ("audio", "sse"):
            return self._bad_request(
                f"Invalid value: '{stream_format}'. Supported values are: 'sse' and 'audio'.",
                param="stream_format",
                code="invalid_value",
            )
        if stream_format == "sse" and body["model"] in AUDIO_STREAM_ONLY_MODELS:
            return self._bad_request(
                f"stream_format 'sse' is not supported for model '{body['model']}'.",
                param="stream_format",
                code="unsupported_value",
            )

        started = time.monotonic()
        pcm = await asyncio.to_thread(synthesize, text)
        pcm = resample(pcm, ESPEAK_RATE, max(1, round(SPEECH_RATE / speed)))
        encoded = await asyncio.to_thread(encode_speech, pcm, response_format)
        remaining = self.tts_ttfb_ms / 1000 - (time.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)

        duration = len(pcm) / SPEECH_RATE
        n_chunks = max(1, math.ceil(duration / SPEECH_CHUNK_SECONDS))
        size = max(1, math.ceil(len(encoded) / n_chunks))
        if response_format == "pcm":
            size += size % 2
        chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)] or [b""]

        if stream_format == "sse":
            input_tokens = _count_tokens(text)
            output_tokens = max(1, int(duration * 20))
            events: list[dict[str, Any]] = [
                {"type": "speech.audio.delta", "audio": base64.b64encode(c).decode()}
                for c in chunks
            ]
            events.append(
                {
                    "type": "speech.audio.done",
                    "usage": {
                        "input_tokens": input_tokens,
                        "output_tokens": output_tokens,
                        "total_tokens": input_tokens + output_tokens,
                    },
                }
            )
            content_type = "text/event-stream; charset=utf-8"
            pieces = [(0.0, f"data: {json.dumps(e)}\n\n".encode()) for e in events]
        else:
            content_type = SPEECH_FORMATS[response_format]
            pieces = [(0.0, c) for c in chunks]

        response = web.StreamResponse(
            headers={
                "Content-Type": content_type,
                "x-request-id": _request_id(),
                "openai-version": "2020-10-01",
            }
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        if await self._write_stream(request, response, pieces, fault):
            await response.write_eof()
        return response


def _parse_trigger(values: list[str]) -> tuple[str, tuple[str, dict[str, Any]]]:
    phrase, name, arguments = values
    return phrase, (name, json.loads(arguments))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fake_providers.openai", description="Local fake OpenAI API server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="chat time to first token")
    parser.add_argument("--token-ms", type=float, default=0.0, help="delay between chat tokens")
    parser.add_argument("--stt-ms", type=float, default=0.0, help="minimum transcription time")
    parser.add_argument("--tts-ttfb-ms", type=float, default=0.0, help="speech time to first byte")
    parser.add_argument(
        "--fixed-transcript", default=None, help="answer transcriptions with TEXT (no Whisper)"
    )
    parser.add_argument(
        "--api-key", action="append", default=None, help="accepted key (repeat); default any"
    )
    parser.add_argument("--reply", action="append", default=None, help="scripted reply (repeat)")
    parser.add_argument(
        "--always-reply", default=None, metavar="TEXT", help="answer every completion with TEXT"
    )
    parser.add_argument(
        "--tool-trigger",
        nargs=3,
        action="append",
        default=[],
        metavar=("PHRASE", "TOOL", "ARGS_JSON"),
        help="call TOOL with ARGS_JSON when the user says PHRASE (repeat)",
    )
    args = parser.parse_args(argv)

    server = FakeOpenAI(
        api_keys=args.api_key,
        replies=(lambda _messages: args.always_reply) if args.always_reply else args.reply,
        tool_triggers=dict(_parse_trigger(t) for t in args.tool_trigger),
        ttft_ms=args.ttft_ms,
        token_ms=args.token_ms,
        stt_ms=args.stt_ms,
        tts_ttfb_ms=args.tts_ttfb_ms,
        fixed_transcript=args.fixed_transcript,
    )

    serve_forever(server, args.host, args.port)


if __name__ == "__main__":
    main()
