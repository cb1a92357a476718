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
* ``POST /v1/embeddings`` (route ``embeddings``): one vector per input, ``float`` or
  ``base64``; a hashed bag of words (`embeddings.bag_of_words`), deterministic.

Every route checks ``Authorization: Bearer <key>`` against ``state.valid_keys`` (any non-empty
key when None) and honours the `Fault` set for its route name: an error status answered with
OpenAI's error JSON (``retry-after`` on 429), latency before the first byte, a delay between
streamed chunks, and a connection dropped mid-stream without a clean end. Besides the shared
``/_fake/faults``, ``/_fake/requests`` and ``/_fake/reset``, ``POST /_fake/config`` changes the
scripted replies, tool triggers (``{phrase: {"name", "arguments"}}``), latencies or fixed
transcript of a running server.

Run it standalone with ``python -m fake_providers.openai --port 8791``.

Every route is HTTP: `chat` (with `chat_plan`), `transcriptions` and `speech`, over
`core.OpenAICore` and the shared `fake_providers.server` base; `server.FakeOpenAI` puts them
together.
"""

from fake_providers.openai.cli import main
from fake_providers.openai.core import OpenAICore
from fake_providers.openai.protocol import (
    AUDIO_STREAM_ONLY_MODELS,
    DEFAULT_MODELS,
    MAX_SPEECH_INPUT,
    MAX_UPLOAD_BYTES,
    SPEECH_CHUNK_SECONDS,
    SPEECH_FORMATS,
    SPEECH_RATE,
    error_body,
)
from fake_providers.openai.server import FakeOpenAI
from fake_providers.openai.speech import encode_speech

__all__ = [
    "AUDIO_STREAM_ONLY_MODELS",
    "DEFAULT_MODELS",
    "MAX_SPEECH_INPUT",
    "MAX_UPLOAD_BYTES",
    "SPEECH_CHUNK_SECONDS",
    "SPEECH_FORMATS",
    "SPEECH_RATE",
    "FakeOpenAI",
    "OpenAICore",
    "encode_speech",
    "error_body",
    "main",
]
