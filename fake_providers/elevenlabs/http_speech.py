"""The fake ElevenLabs' speech routes over HTTP: text to speech and to dialogue (whole or
streamed) and speech to text (an uploaded file)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import numpy as np
from aiohttp import web

from fake_providers.common import ESPEAK_RATE
from fake_providers.elevenlabs.audio import _chunk_bytes, _mp3_stream_part, _speech_span, _words
from fake_providers.elevenlabs.core import ElevenLabsCore
from fake_providers.elevenlabs.protocol import (
    STT_MODELS,
    STT_RATE,
    _iso3,
    _validation_error,
    error_body,
)
from shared.audio import AudioDecodeError, decode_to_mono, encode_pcm


class SpeechRoutes(ElevenLabsCore):
    """``POST /v1/text-to-speech/{voice_id}[/stream]``, ``/v1/text-to-dialogue[/stream]`` and
    ``/v1/speech-to-text``."""

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
