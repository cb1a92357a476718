"""The fake OpenAI's transcription route: a multipart upload in, text in the requested format
(or as server-sent events) out."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from aiohttp import web

from fake_providers.common import Fault, RequestRecord
from fake_providers.openai.core import OpenAICore
from fake_providers.openai.protocol import (
    _LANGUAGE_NAMES,
    _count_tokens,
    _request_id,
    _timestamp,
    _tokens,
)
from shared.audio import AudioDecodeError, decode_to_mono


class TranscriptionRoutes(OpenAICore):
    """``POST /v1/audio/transcriptions`` (route ``transcriptions``)."""

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
