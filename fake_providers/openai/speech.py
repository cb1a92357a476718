"""The fake OpenAI's speech route: espeak-ng speech encoded as the requested format, streamed
as audio or as server-sent events."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import time
import wave
from fractions import Fraction
from typing import Any, Literal

import av
import numpy as np
from aiohttp import web

from fake_providers.common import ESPEAK_RATE, Fault, RequestRecord, synthesize
from fake_providers.openai.core import OpenAICore
from fake_providers.openai.protocol import (
    AUDIO_STREAM_ONLY_MODELS,
    MAX_SPEECH_INPUT,
    SPEECH_CHUNK_SECONDS,
    SPEECH_FORMATS,
    SPEECH_RATE,
    _count_tokens,
    _request_id,
)
from shared.audio import encode_pcm, resample


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


class SpeechRoutes(OpenAICore):
    """``POST /v1/audio/speech`` (route ``speech``)."""

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
