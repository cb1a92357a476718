"""The fake OpenAI's shared state and request handling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from fake_providers.common import FakeState, Fault, RequestRecord, Transcriber, apply_latency
from fake_providers.openai.protocol import DEFAULT_MODELS, MAX_UPLOAD_BYTES, _request_id, error_body
from fake_providers.server import FakeServer


class OpenAICore(FakeServer):
    """What every OpenAI route stands on: the scripted answers and latencies, the gate each
    request passes (key, fault, latency), OpenAI's error answers and streamed bodies, and
    ``POST /_fake/config``. `FakeOpenAI` adds the routes.

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
        prefill_ms_per_1k: time to first token added per 1,000 prompt tokens (a model reads
            a longer prompt for longer before its first token).
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
        prefill_ms_per_1k: float = 0.0,
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
        self.prefill_ms_per_1k = prefill_ms_per_1k
        self.stt_ms = stt_ms
        self.tts_ttfb_ms = tts_ttfb_ms
        self.models = list(models)
        self.retry_after_s = retry_after_s
        self._created = int(time.time())

    # --- request handling ----------------------------------------------------------------------

    def middlewares(self) -> list[Any]:
        return [self._errors_middleware]

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
