"""The fake ElevenLabs' websocket routes: the handshake (key, model, format, voice checks) of
text-to-speech and text-to-dialogue input streaming and of realtime speech to text; what
follows on each connection is `ws_tts` and `ws_stt`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fake_providers.elevenlabs.core import ElevenLabsCore
from fake_providers.elevenlabs.protocol import (
    DEFAULT_WS_INACTIVITY_S,
    REALTIME_FORMATS,
    REALTIME_STT_MODELS,
    STREAM_INPUT_DEFAULT_FORMAT,
    error_body,
)
from fake_providers.elevenlabs.ws_stt import _SttSession
from fake_providers.elevenlabs.ws_tts import _TtsSocket


class WebsocketRoutes(ElevenLabsCore):
    """``WS /v1/text-to-speech/{voice_id}/multi-stream-input`` and ``.../stream-input``,
    ``WS /v1/text-to-dialogue/multi-stream-input`` and ``WS /v1/speech-to-text/realtime``."""

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
