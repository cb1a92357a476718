"""The control plane's calls to cloud providers: check a key, list a key's voices, synthesise.

Failures come back as two kinds the API maps to statuses: `KeyRejectedError` (the provider
said the key is not valid: 401/403) and `ProviderUnavailableError` (anything else: timeout,
connection error, 429, 5xx). Keys never appear in messages or logs.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import httpx
import numpy as np
import openai
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError
from livekit.plugins import elevenlabs as lk_elevenlabs

from .voices.catalog import Voice

ProviderName = Literal["elevenlabs", "openai"]
PROVIDER_TITLES = {"elevenlabs": "ElevenLabs", "openai": "OpenAI"}


class KeyRejectedError(Exception):
    """The provider refused the key."""


class ProviderUnavailableError(Exception):
    """The provider could not answer (network, timeout, rate limit, server error)."""


@dataclass(frozen=True)
class ProviderEndpoints:
    elevenlabs_base_url: str
    openai_base_url: str
    timeout: float = 10.0


def _raise_for(provider: ProviderName, response: httpx.Response) -> None:
    title = PROVIDER_TITLES[provider]
    if response.status_code in (401, 403):
        raise KeyRejectedError(f"{title} rejected the API key (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise ProviderUnavailableError(f"{title} answered HTTP {response.status_code}")


async def _elevenlabs_get(endpoints: ProviderEndpoints, key: str, path: str) -> Any:
    url = endpoints.elevenlabs_base_url.rstrip("/") + path
    try:
        async with httpx.AsyncClient(timeout=endpoints.timeout) as client:
            response = await client.get(url, headers={"xi-api-key": key})
    except httpx.HTTPError as exc:
        raise ProviderUnavailableError(
            f"could not reach ElevenLabs ({type(exc).__name__})"
        ) from None
    _raise_for("elevenlabs", response)
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailableError("ElevenLabs answered with invalid JSON") from None


async def check_key(provider: ProviderName, key: str, endpoints: ProviderEndpoints) -> dict:
    """What the provider says of the key's account; raises when it is not usable."""
    if provider == "elevenlabs":
        user = await _elevenlabs_get(endpoints, key, "/user")
        tier = (user.get("subscription") or {}).get("tier") if isinstance(user, dict) else None
        return {"subscription": {"tier": tier}}
    client = openai.AsyncOpenAI(
        api_key=key, base_url=endpoints.openai_base_url, timeout=endpoints.timeout, max_retries=0
    )
    try:
        models = await client.models.list()
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise KeyRejectedError(f"OpenAI rejected the API key (HTTP {exc.status_code})") from None
    except openai.APIStatusError as exc:
        raise ProviderUnavailableError(f"OpenAI answered HTTP {exc.status_code}") from None
    except openai.APIError as exc:
        raise ProviderUnavailableError(f"could not reach OpenAI ({type(exc).__name__})") from None
    finally:
        await client.close()
    return {"models": len(models.data)}


class VoiceListCache:
    """A key's own ElevenLabs voices, cached per key digest for `ttl` seconds."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, list[Voice]]] = {}

    async def voices(self, key: str, endpoints: ProviderEndpoints) -> list[Voice]:
        digest = hashlib.sha256(key.encode()).hexdigest()
        hit = self._entries.get(digest)
        if hit is not None and time.monotonic() < hit[0]:
            return hit[1]
        payload = await _elevenlabs_get(endpoints, key, "/voices")
        voices = [v for v in map(_voice, payload.get("voices", [])) if v is not None]
        self._entries[digest] = (time.monotonic() + self.ttl, voices)
        return voices


OWN_CATEGORIES = frozenset({"cloned", "generated", "professional"})


def is_own_voice(voice: Voice) -> bool:
    """A voice of the key's own library (cloned, designed, professional), not a premade one."""
    return voice.category in OWN_CATEGORIES


def _voice(raw: Any) -> Voice | None:
    if not isinstance(raw, dict) or not raw.get("voice_id") or not raw.get("name"):
        return None
    labels = raw.get("labels") or {}
    languages = {
        str(entry.get("language")).split("-")[0].lower()
        for entry in raw.get("verified_languages") or []
        if isinstance(entry, dict) and entry.get("language")
    }
    if labels.get("language"):
        languages.add(str(labels["language"]).split("-")[0].lower())
    return Voice(
        voice_id=str(raw["voice_id"]),
        name=str(raw["name"]),
        provider="elevenlabs",
        gender=labels.get("gender"),
        accent=labels.get("accent"),
        age=labels.get("age"),
        category=raw.get("category"),
        description=raw.get("description") or labels.get("description"),
        use_case=labels.get("use_case") or labels.get("use case"),
        languages=sorted(languages or {"en"}),
        multilingual=True,
        preview_url=raw.get("preview_url"),
    )


async def elevenlabs_speech(
    endpoints: ProviderEndpoints,
    key: str,
    *,
    voice_id: str,
    text: str,
    model_id: str,
    language: str | None,
    stability: float,
    similarity_boost: float,
    style: float,
    speed: float,
) -> tuple[np.ndarray, int]:
    """Mono int16 speech from ElevenLabs, through the same provider calls use (the livekit
    plugin), so errors and settings behave the same way."""
    async with aiohttp.ClientSession() as session:
        tts = lk_elevenlabs.TTS(
            api_key=key,
            base_url=endpoints.elevenlabs_base_url,
            voice_id=voice_id,
            model=model_id,
            language=language.split("-")[0] if language else lk_elevenlabs.tts.NOT_GIVEN,
            encoding="pcm_24000",
            voice_settings=lk_elevenlabs.VoiceSettings(
                stability=stability,
                similarity_boost=similarity_boost,
                style=style,
                speed=min(1.2, max(0.7, speed)),
            ),
            http_session=session,
        )
        options = APIConnectOptions(max_retry=1, timeout=endpoints.timeout)
        chunks: list[np.ndarray] = []
        try:
            async with tts.synthesize(text, conn_options=options) as stream:
                async for audio in stream:
                    chunks.append(np.frombuffer(audio.frame.data, dtype=np.int16).copy())
        except APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise KeyRejectedError(
                    f"ElevenLabs rejected the API key (HTTP {exc.status_code})"
                ) from None
            if exc.status_code == 404:
                raise LookupError(f"ElevenLabs has no voice {voice_id!r}") from None
            raise ProviderUnavailableError(f"ElevenLabs answered HTTP {exc.status_code}") from None
        except APIConnectionError as exc:
            raise ProviderUnavailableError(
                f"could not reach ElevenLabs ({type(exc).__name__})"
            ) from None
        finally:
            await tts.aclose()
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return pcm, tts.sample_rate
