"""One realtime speech-to-text (Scribe v2 realtime) websocket of the fake ElevenLabs: audio in,
partial and committed transcripts out."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from fake_providers.common import RequestRecord
from fake_providers.elevenlabs.audio import _speech_span, _ulaw_to_int16, _voiced_mask, _words
from fake_providers.elevenlabs.core import ElevenLabsCore, _Dropped
from fake_providers.elevenlabs.protocol import MIN_COMMIT_SECONDS, REALTIME_FORMATS, _iso3
from shared.audio import resample


class _SttSession:
    """One Scribe v2 realtime websocket: audio in, partial and committed transcripts out."""

    def __init__(
        self,
        server: ElevenLabsCore,
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
