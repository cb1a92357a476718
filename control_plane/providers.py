"""The control plane's calls to cloud providers: check a key, list a key's voices, synthesise,
and make ElevenLabs voices (design from a description, instant clone, delete).

Failures come back as kinds the API maps to statuses: `KeyRejectedError` (the provider said the
key is not valid: 401/403), `ProviderUnavailableError` (timeout, connection error, 429, 5xx),
and, for the voice-making calls, `LookupError` (404: the provider does not know the voice or
preview) and `ProviderRequestError` (any other 4xx, with the provider's own message). Keys never
appear in messages or logs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

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


class ProviderRequestError(Exception):
    """The provider refused the request itself (a 4xx other than 401, 403 and 404: a clip it
    cannot read, a description too short); the message is the provider's."""


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

    def forget(self, key: str) -> None:
        """Drop the key's cached list (its voices changed)."""
        self._entries.pop(hashlib.sha256(key.encode()).hexdigest(), None)

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


# --- making ElevenLabs voices -------------------------------------------------------------------

VOICE_MAKING_TIMEOUT = 60.0
"""Least seconds to wait for a voice design or a clone: ElevenLabs takes seconds for either."""


@dataclass(frozen=True)
class VoicePreview:
    """One of the voices ElevenLabs designed from a description, before it is kept."""

    generated_voice_id: str
    audio: bytes
    """The preview speech, decoded from base64, encoded as `media_type` says."""
    media_type: str
    duration_secs: float | None


def _elevenlabs_message(response: httpx.Response) -> str:
    """ElevenLabs' own words for an error answer: ``detail.message`` (its errors), the fields
    and messages of ``detail[]`` (a validation error), or the status alone."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if not isinstance(entry, dict):
                continue
            loc = [str(p) for p in entry.get("loc") or [] if p != "body"]
            msg = str(entry.get("msg") or "invalid")
            parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
        if parts:
            return "; ".join(parts)
    if isinstance(detail, str) and detail:
        return detail
    return f"ElevenLabs answered HTTP {response.status_code}"


def _raise_for_voice_making(response: httpx.Response) -> None:
    """Map an ElevenLabs error answer to the module's errors (see the module docstring)."""
    status = response.status_code
    if status < 400:
        return
    if status in (401, 403):
        raise KeyRejectedError(f"ElevenLabs rejected the API key (HTTP {status})")
    if status == 404:
        raise LookupError(_elevenlabs_message(response))
    if status == 429 or status >= 500:
        raise ProviderUnavailableError(f"ElevenLabs answered HTTP {status}")
    raise ProviderRequestError(_elevenlabs_message(response))


async def _elevenlabs_send(
    endpoints: ProviderEndpoints,
    key: str,
    method: str,
    path: str,
    *,
    slow: bool = False,
    **request: Any,
) -> Any:
    """One ElevenLabs request (`request`: httpx's ``json``, ``data``, ``files``); its JSON
    answer, or the module's errors. A `slow` one (a design, a clone) waits at least
    `VOICE_MAKING_TIMEOUT` seconds."""
    url = endpoints.elevenlabs_base_url.rstrip("/") + path
    timeout = max(endpoints.timeout, VOICE_MAKING_TIMEOUT) if slow else endpoints.timeout
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.request(method, url, headers={"xi-api-key": key}, **request)
    except httpx.HTTPError as exc:
        raise ProviderUnavailableError(
            f"could not reach ElevenLabs ({type(exc).__name__})"
        ) from None
    _raise_for_voice_making(response)
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailableError("ElevenLabs answered with invalid JSON") from None


def _preview(raw: Any) -> VoicePreview:
    """One entry of a design answer's ``previews``."""
    try:
        duration = raw.get("duration_secs")
        return VoicePreview(
            generated_voice_id=str(raw["generated_voice_id"]),
            audio=base64.b64decode(raw["audio_base_64"], validate=True),
            media_type=str(raw.get("media_type") or "audio/mpeg"),
            duration_secs=float(duration) if duration is not None else None,
        )
    except (AttributeError, KeyError, TypeError, ValueError, binascii.Error):
        raise ProviderUnavailableError("ElevenLabs answered with an invalid preview") from None


def _new_voice_id(payload: Any) -> str:
    voice_id = payload.get("voice_id") if isinstance(payload, dict) else None
    if not isinstance(voice_id, str) or not voice_id:
        raise ProviderUnavailableError("ElevenLabs answered without a voice_id")
    return voice_id


async def design_voice_previews(
    endpoints: ProviderEndpoints,
    key: str,
    *,
    description: str,
    text: str,
    model_id: str | None = None,
) -> list[VoicePreview]:
    """Voices ElevenLabs designs from `description` (20-1000 characters), each speaking `text`
    (100-1000 characters; empty: ElevenLabs writes one). Keep one with `create_designed_voice`.
    """
    body: dict[str, Any] = {"voice_description": description}
    if text:
        body["text"] = text
    else:
        body["auto_generate_text"] = True
    if model_id:
        body["model_id"] = model_id
    payload = await _elevenlabs_send(
        endpoints, key, "POST", "/text-to-voice/design", json=body, slow=True
    )
    previews = payload.get("previews") if isinstance(payload, dict) else None
    if not isinstance(previews, list):
        raise ProviderUnavailableError("ElevenLabs answered without previews")
    return [_preview(raw) for raw in previews]


async def create_designed_voice(
    endpoints: ProviderEndpoints,
    key: str,
    *,
    name: str,
    description: str,
    generated_voice_id: str,
    labels: dict[str, str] | None = None,
) -> str:
    """Keep a designed preview as a voice of the key's account; its new voice_id.
    `LookupError` when ElevenLabs no longer knows the preview."""
    body: dict[str, Any] = {
        "voice_name": name,
        "voice_description": description,
        "generated_voice_id": generated_voice_id,
    }
    if labels:
        body["labels"] = labels
    payload = await _elevenlabs_send(endpoints, key, "POST", "/text-to-voice", json=body)
    return _new_voice_id(payload)


async def clone_voice(
    endpoints: ProviderEndpoints,
    key: str,
    *,
    name: str,
    files: list[tuple[str, bytes, str]],
    description: str | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """An instant voice clone of the speaker in `files` ((filename, data, content type) each)
    added to the key's account; its voice_id. A clip ElevenLabs cannot use is a
    `ProviderRequestError`."""
    form: dict[str, str] = {"name": name}
    if description:
        form["description"] = description
    if labels:
        form["labels"] = json.dumps(labels)
    uploads = [("files", (filename, data, content_type)) for filename, data, content_type in files]
    payload = await _elevenlabs_send(
        endpoints,
        key,
        "POST",
        "/voices/add",
        data=form,
        files=uploads,
        slow=True,
    )
    return _new_voice_id(payload)


async def delete_voice(endpoints: ProviderEndpoints, key: str, voice_id: str) -> None:
    """Delete one of the key's own voices; `LookupError` when ElevenLabs does not know it."""
    await _elevenlabs_send(endpoints, key, "DELETE", f"/voices/{quote(voice_id, safe='')}")
