"""The voices the fake ElevenLabs serves: the library every account can use (`voice_data`),
the voices each account owns, and how a voice is listed and spoken (by espeak-ng)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from fake_providers.elevenlabs.protocol import TTS_MODELS, _iso1
from fake_providers.elevenlabs.voice_data import library_voices

# The default voice of `livekit.plugins.elevenlabs`, a premade voice too.
_EXTRA_PREMADE = {
    "voice_id": "hpp4J3VqNfWAUOO0d1Us",
    "name": "Bella",
    "category": "premade",
    "gender": "female",
    "accent": "american",
    "age": "young",
    "description": "professional, bright, warm",
    "use_case": "conversational",
    "languages": ["en"],
}
_LABEL_FIELDS = ("gender", "accent", "age", "description", "use_case")
_ARABIC = re.compile(r"[\u0600-\u06ff]")


def _voice_id_for(seed: str) -> str:
    """A 20-character alphanumeric id, as ElevenLabs voice ids look."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    n = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    out = []
    for _ in range(20):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def default_library_voices() -> list[dict[str, Any]]:
    """The voices every account can use when the server is given no others: the default voice
    of `livekit.plugins.elevenlabs`, then the `voice_data` library."""
    return [dict(_EXTRA_PREMADE), *library_voices()]


def default_own_voices(api_key: str) -> list[dict[str, Any]]:
    """The voices an account owns when the server was not told otherwise: one instant clone and
    one designed voice, with ids that differ per key."""
    return [
        {
            "voice_id": _voice_id_for(f"{api_key}/cloned"),
            "name": "My Cloned Voice",
            "category": "cloned",
            "gender": "male",
            "accent": "american",
            "age": "middle_aged",
            "description": "instant voice clone",
            "use_case": "conversational",
            "languages": ["en"],
        },
        {
            "voice_id": _voice_id_for(f"{api_key}/generated"),
            "name": "My Designed Voice",
            "category": "generated",
            "gender": "female",
            "accent": "british",
            "age": "young",
            "description": "designed from a prompt",
            "use_case": "narrative_story",
            "languages": ["en"],
        },
    ]


def _normalize_voice(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A flat voice entry (labels at top level or under ``labels``) with every field set."""
    labels = dict(entry.get("labels") or {})
    flat = {k: v for k, v in entry.items() if k != "labels"}
    for name in _LABEL_FIELDS:
        flat.setdefault(name, labels.get(name))
    if "voice_id" not in flat or "name" not in flat:
        raise ValueError(f"a voice needs voice_id and name: {dict(entry)!r}")
    flat.setdefault("category", "cloned")
    flat.setdefault("languages", ["en"])
    flat.setdefault("preview_url", None)
    flat["extra_labels"] = {k: v for k, v in labels.items() if k not in _LABEL_FIELDS}
    return flat


def _voice_json(voice: Mapping[str, Any], *, owned: bool) -> dict[str, Any]:
    """One voice as ``GET /v1/voices`` lists it."""
    labels = {k: voice[k] for k in _LABEL_FIELDS if voice.get(k)}
    labels.update(voice.get("extra_labels") or {})
    premade = voice["category"] == "premade"
    verified = [
        {
            "language": lang,
            "model_id": "eleven_multilingual_v2",
            "accent": voice.get("accent"),
            "locale": None,
            "preview_url": voice.get("preview_url"),
        }
        for lang in voice.get("languages") or []
    ]
    return {
        "voice_id": voice["voice_id"],
        "name": voice["name"],
        "samples": None,
        "category": voice["category"],
        "fine_tuning": {
            "is_allowed_to_fine_tune": not premade,
            "state": {},
            "verification_failures": [],
            "verification_attempts_count": 0,
            "manual_verification_requested": False,
        },
        "labels": labels,
        "description": voice.get("description"),
        "preview_url": voice.get("preview_url"),
        "available_for_tiers": [],
        "settings": None,
        "sharing": None,
        "high_quality_base_model_ids": list(TTS_MODELS[:3]),
        "verified_languages": verified,
        "safety_control": None,
        "voice_verification": {
            "requires_verification": False,
            "is_verified": False,
            "verification_failures": [],
            "verification_attempts_count": 0,
            "language": None,
            "verification_attempts": None,
        },
        "permission_on_resource": "admin" if owned else None,
        "is_owner": owned,
        "is_legacy": False,
        "is_mixed": False,
        "created_at_unix": None if premade else 1_700_000_000,
    }


def _espeak_voice(voice: Mapping[str, Any], text: str, language: str | None = None) -> str:
    """An espeak-ng voice that fits the ElevenLabs voice's language, accent and gender (or its
    own ``espeak_variant``, which designed voices carry)."""
    lang = _iso1(language)
    if _ARABIC.search(text) or lang == "ar":
        base = "ar"
    elif (voice.get("accent") or "").split("-")[0] in ("british", "irish", "australian"):
        base = "en"  # British English; "en-gb" names a voice that ignores variants
    else:
        base = "en-us"
    if variant := voice.get("espeak_variant"):
        return f"{base}+{variant}"
    gender = voice.get("gender")
    return f"{base}+f3" if gender == "female" else f"{base}+f2" if gender == "neutral" else base
