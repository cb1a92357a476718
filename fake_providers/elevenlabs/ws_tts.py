"""One text-to-speech input-streaming websocket of the fake ElevenLabs: text in (per context),
audio with character alignment out."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from fake_providers.common import ESPEAK_RATE, RequestRecord
from fake_providers.elevenlabs.audio import _char_times, _chunk_bytes, _mp3_stream_part
from fake_providers.elevenlabs.core import ElevenLabsCore, _Dropped, logger
from fake_providers.elevenlabs.protocol import DEFAULT_CHUNK_SCHEDULE, DIALOGUE_IDLE_S, MAX_CONTEXTS
from shared.audio import OutputFormat, encode_pcm

_SENTENCE_END = re.compile(r"[.!?;:。！？؟]+[\"')\]]*\s+")


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
        server: ElevenLabsCore,
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
