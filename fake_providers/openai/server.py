"""`FakeOpenAI`: the models, chat, transcription and speech routes on one server."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fake_providers.common import Fault, RequestRecord
from fake_providers.openai.chat import ChatRoutes
from fake_providers.openai.embeddings import EmbeddingRoutes
from fake_providers.openai.speech import SpeechRoutes
from fake_providers.openai.transcriptions import TranscriptionRoutes


class FakeOpenAI(ChatRoutes, TranscriptionRoutes, SpeechRoutes, EmbeddingRoutes):
    """The fake OpenAI server: ``async start()`` / ``stop()``, or ``with FakeOpenAI() as f``.

    It takes the arguments `OpenAICore` lists (see the package docstring for routes and
    faults).
    """

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_fake/config", self._set_config),
            web.get("/v1/models", self._route("models", self._list_models)),
            web.get("/v1/models/{model}", self._route("models", self._get_model)),
            web.post("/v1/chat/completions", self._route("chat", self._chat)),
            web.post(
                "/v1/audio/transcriptions",
                self._route("transcriptions", self._transcriptions),
            ),
            web.post("/v1/audio/speech", self._route("speech", self._speech)),
            web.post("/v1/embeddings", self._route("embeddings", self._embeddings)),
        ]

    # --- models ---------------------------------------------------------------------------------

    def _model_object(self, model: str) -> dict[str, Any]:
        owner = "openai-internal" if model.startswith(("whisper", "tts")) else "system"
        return {"id": model, "object": "model", "created": self._created, "owned_by": owner}

    async def _list_models(self, request: web.Request, record: RequestRecord, fault: Fault):
        return web.json_response(
            {"object": "list", "data": [self._model_object(m) for m in self.models]}
        )

    async def _get_model(self, request: web.Request, record: RequestRecord, fault: Fault):
        model = request.match_info["model"]
        if model not in self.models:
            return self._error(
                404,
                f"The model '{model}' does not exist",
                code="model_not_found",
                param="model",
            )
        return web.json_response(self._model_object(model))
