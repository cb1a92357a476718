"""A local ElevenLabs: the parts of its HTTP and websocket APIs this runtime talks to.

The real `livekit.plugins.elevenlabs` TTS and STT, and plain HTTP clients, run unchanged against
it by base URL (``http://host:port/v1``). Speech comes from espeak-ng (`common.synthesize`) and
is encoded into the requested ``output_format``; transcripts come from Whisper or a fixed text
(`common.Transcriber`).

HTTP handlers are in `http_account`, `http_speech` and `http_voices`, websocket handlers in
`ws_routes`, `ws_tts` and `ws_stt`, all over `core.ElevenLabsCore` and the shared
`fake_providers.server` base. Run it with ``python -m fake_providers.elevenlabs --port 8790``.

Routes and the fault names that `FakeState.faults` keys them by:

================  =============================================================================
``user``          ``GET /v1/user``, ``GET /v1/user/subscription``
``voices``        ``GET /v1/voices``, ``GET /v2/voices``, ``GET /v1/voices/{voice_id}``
``models``        ``GET /v1/models``
``tts``           ``POST /v1/text-to-speech/{voice_id}``
``tts_stream``    ``POST /v1/text-to-speech/{voice_id}/stream``
``tts_ws``        ``WS /v1/text-to-speech/{voice_id}/multi-stream-input`` and ``.../stream-input``
``dialogue``      ``POST /v1/text-to-dialogue``, ``POST /v1/text-to-dialogue/stream``
``dialogue_ws``   ``WS /v1/text-to-dialogue/multi-stream-input`` (eleven_v3 / eleven_v4 models)
``stt``           ``POST /v1/speech-to-text``
``stt_ws``        ``WS /v1/speech-to-text/realtime``
``token``         ``POST /v1/single-use-token/{token_type}``
``voice_design``  ``POST /v1/text-to-voice/design`` (and the older ``.../create-previews``)
``voice_create``  ``POST /v1/text-to-voice`` (and the older ``.../create-voice-from-preview``)
``voice_clone``   ``POST /v1/voices/add`` (instant voice cloning, multipart ``files``)
``voice_delete``  ``DELETE /v1/voices/{voice_id}``
================  =============================================================================

Fault semantics: ``status`` (with ``times``) answers an ElevenLabs-style JSON error instead (a
websocket handshake is refused with it); ``latency_ms`` delays the first byte of an HTTP answer,
the first audio of every TTS websocket context and every committed STT transcript;
``chunk_delay_ms`` spaces out audio chunks / messages; ``drop_after_chunks`` cuts the connection
without a clean end after that many audio chunks (HTTP body chunks, TTS websocket audio messages,
or STT websocket audio messages received).
"""

from fake_providers.elevenlabs.cli import main
from fake_providers.elevenlabs.core import ElevenLabsCore
from fake_providers.elevenlabs.protocol import (
    API_KEY_HEADER,
    DEFAULT_CHUNK_SCHEDULE,
    DEFAULT_WS_INACTIVITY_S,
    DIALOGUE_IDLE_S,
    DIALOGUE_MODELS,
    MAX_CONTEXTS,
    MIN_COMMIT_SECONDS,
    REALTIME_FORMATS,
    REALTIME_STT_MODELS,
    STREAM_INPUT_DEFAULT_FORMAT,
    STT_MODELS,
    STT_RATE,
    TTS_MODELS,
    error_body,
)
from fake_providers.elevenlabs.server import FakeElevenLabs
from fake_providers.elevenlabs.voices import default_library_voices, default_own_voices

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_CHUNK_SCHEDULE",
    "DEFAULT_WS_INACTIVITY_S",
    "DIALOGUE_IDLE_S",
    "DIALOGUE_MODELS",
    "MAX_CONTEXTS",
    "MIN_COMMIT_SECONDS",
    "REALTIME_FORMATS",
    "REALTIME_STT_MODELS",
    "STREAM_INPUT_DEFAULT_FORMAT",
    "STT_MODELS",
    "STT_RATE",
    "TTS_MODELS",
    "ElevenLabsCore",
    "FakeElevenLabs",
    "default_library_voices",
    "default_own_voices",
    "error_body",
    "main",
]
