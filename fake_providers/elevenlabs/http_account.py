"""The fake ElevenLabs' account routes over HTTP: user and subscription, voices, models and
single-use tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from fake_providers.elevenlabs.core import ElevenLabsCore
from fake_providers.elevenlabs.protocol import (
    DIALOGUE_MODELS,
    TTS_MODELS,
    _validation_error,
    error_body,
)
from fake_providers.elevenlabs.voices import _LABEL_FIELDS, _voice_id_for, _voice_json


class AccountRoutes(ElevenLabsCore):
    """``GET /v1/user``, ``/v1/user/subscription``, ``/v1/voices``, ``/v2/voices``,
    ``/v1/voices/{voice_id}``, ``/v1/models`` and ``POST /v1/single-use-token/{token_type}``."""

    def _subscription_json(self, key: str) -> dict[str, Any]:
        account = self._account(key)
        own = self.own_voices(key)
        sub = {
            "tier": self.tier,
            "character_count": account.character_count,
            "character_limit": self.character_limit,
            "max_character_limit_extension": None,
            "can_extend_character_limit": False,
            "allowed_to_extend_character_limit": False,
            "next_character_count_reset_unix": int(time.time()) + 30 * 86400,
            "voice_slots_used": sum(v["category"] != "professional" for v in own),
            "professional_voice_slots_used": sum(v["category"] == "professional" for v in own),
            "voice_limit": 30,
            "voice_add_edit_counter": 0,
            "professional_voice_limit": 1,
            "can_extend_voice_limit": False,
            "can_use_instant_voice_cloning": True,
            "can_use_professional_voice_cloning": True,
            "currency": "usd",
            "status": "active",
            "billing_period": "monthly_period",
            "character_refresh_period": "monthly_period",
        }
        sub.update(account.subscription)
        return sub

    async def _user(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "user")
        if failed:
            return failed
        return self._respond(
            record,
            200,
            {
                "user_id": _voice_id_for(f"user/{key}"),
                "subscription": self._subscription_json(key),
                "is_new_user": False,
                "can_use_delayed_payment_methods": False,
                "is_onboarding_completed": True,
                "is_onboarding_checklist_completed": True,
                "first_name": "Fake",
                "is_api_key_hashed": True,
                "created_at": 1_700_000_000,
            },
        )

    async def _subscription(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "user")
        if failed:
            return failed
        return self._respond(record, 200, self._subscription_json(key))

    def _listed_voices(self, key: str) -> list[tuple[dict[str, Any], bool]]:
        return [(v, False) for v in self.premade_voices] + [(v, True) for v in self.own_voices(key)]

    async def _voices_v1(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "voices")
        if failed:
            return failed
        voices = [_voice_json(v, owned=o) for v, o in self._listed_voices(key)]
        return self._respond(record, 200, {"voices": voices})

    async def _voices_v2(self, request: web.Request) -> web.Response:
        """``GET /v2/voices``: search, category / voice_type filters and token paging."""
        record, _, key, failed = await self._gate(request, "voices")
        if failed:
            return failed
        q = request.query
        voices = self._listed_voices(key)
        if search := q.get("search", "").lower():
            voices = [
                (v, o)
                for v, o in voices
                if search in v["name"].lower()
                or any(search in str(v.get(k) or "").lower() for k in _LABEL_FIELDS)
            ]
        if category := q.get("category"):
            voices = [(v, o) for v, o in voices if v["category"] == category]
        voice_type = q.get("voice_type")
        if voice_type == "default":
            voices = [(v, o) for v, o in voices if not o]
        elif voice_type in ("personal", "workspace", "non-default", "saved"):
            voices = [(v, o) for v, o in voices if o]
        try:
            page_size = max(1, min(100, int(q.get("page_size", 10))))
            start = int(q.get("next_page_token") or 0)
        except ValueError:
            return self._fail(record, 400, error_body(400, None, "invalid page_size or token"))
        page = voices[start : start + page_size]
        more = start + page_size < len(voices)
        return self._respond(
            record,
            200,
            {
                "voices": [_voice_json(v, owned=o) for v, o in page],
                "has_more": more,
                "total_count": len(voices),
                "next_page_token": str(start + page_size) if more else None,
            },
        )

    async def _voice_get(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "voices")
        if failed:
            return failed
        voice_id = request.match_info["voice_id"]
        voice = self._voice(key, voice_id)
        if voice is None:
            return self._fail(record, 404, self._voice_not_found(voice_id))
        owned = any(v["voice_id"] == voice_id for v in self.own_voices(key))
        return self._respond(record, 200, _voice_json(voice, owned=owned))

    async def _models(self, request: web.Request) -> web.Response:
        record, _, _, failed = await self._gate(request, "models")
        if failed:
            return failed
        models = [
            {
                "model_id": m,
                "name": m.replace("_", " ").title(),
                "can_do_text_to_speech": True,
                "can_do_voice_conversion": False,
                "can_use_style": True,
                "can_use_speaker_boost": True,
                "serves_pro_voices": False,
                "token_cost_factor": 0.5 if ("turbo" in m or "flash" in m) else 1.0,
                "requires_alpha_access": False,
                "max_characters_request_free_user": 2500,
                "max_characters_request_subscribed_user": 10000,
                "languages": [{"language_id": "en", "name": "English"}],
            }
            for m in (*TTS_MODELS, *DIALOGUE_MODELS)
        ]
        return self._respond(record, 200, models)

    async def _token(self, request: web.Request) -> web.Response:
        record, _, key, failed = await self._gate(request, "token")
        if failed:
            return failed
        token_type = request.match_info["token_type"]
        if token_type not in ("realtime_scribe", "tts_websocket"):
            return self._fail(record, 422, _validation_error("token_type", "Invalid token type"))
        token = f"sutkn_{uuid.uuid4().hex}"
        self._tokens[token] = key
        return self._respond(record, 200, {"token": token})
