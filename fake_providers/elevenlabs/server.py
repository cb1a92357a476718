"""`FakeElevenLabs`: the account, speech, voice-making and websocket routes on one server."""

from __future__ import annotations

from aiohttp import web

from fake_providers.elevenlabs.http_account import AccountRoutes
from fake_providers.elevenlabs.http_speech import SpeechRoutes
from fake_providers.elevenlabs.http_voices import VoiceMakingRoutes
from fake_providers.elevenlabs.ws_routes import WebsocketRoutes


class FakeElevenLabs(AccountRoutes, SpeechRoutes, VoiceMakingRoutes, WebsocketRoutes):
    """A local ElevenLabs API server (see the package docstring for routes and faults).

    It takes the arguments `ElevenLabsCore` lists. HTTP routes are `http_account`,
    `http_speech` and `http_voices` (voice design, cloning and deletion, with their fault
    names), websocket routes `ws_routes` (each connection then runs in `ws_tts` or `ws_stt`).
    """

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/user", self._user),
            web.get("/v1/user/subscription", self._subscription),
            web.get("/v1/voices", self._voices_v1),
            web.get("/v2/voices", self._voices_v2),
            web.get("/v1/voices/{voice_id}", self._voice_get),
            web.delete("/v1/voices/{voice_id}", self._delete_voice),
            web.post("/v1/voices/add", self._clone),
            web.post("/v1/text-to-voice/design", self._design),
            web.post("/v1/text-to-voice/create-previews", self._design),
            web.post("/v1/text-to-voice", self._create_from_preview),
            web.post("/v1/text-to-voice/create-voice-from-preview", self._create_from_preview),
            web.get("/v1/models", self._models),
            web.post("/v1/text-to-speech/{voice_id}", self._tts),
            web.post("/v1/text-to-speech/{voice_id}/stream", self._tts_stream),
            web.get("/v1/text-to-speech/{voice_id}/multi-stream-input", self._tts_ws_multi),
            web.get("/v1/text-to-speech/{voice_id}/stream-input", self._tts_ws_single),
            web.post("/v1/text-to-dialogue", self._dialogue),
            web.post("/v1/text-to-dialogue/stream", self._dialogue_stream),
            web.get("/v1/text-to-dialogue/multi-stream-input", self._dialogue_ws),
            web.post("/v1/speech-to-text", self._stt),
            web.get("/v1/speech-to-text/realtime", self._stt_ws),
            web.post("/v1/single-use-token/{token_type}", self._token),
        ]
