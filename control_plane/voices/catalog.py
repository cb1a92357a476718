"""Voice catalog behind `GET /voice-agents/{arabic,english,multilingual}`.

Three sources are merged, in this order of precedence:

1. local voices of this machine (offline, always free to use): the installed Piper voices
   (neural), then the espeak-ng voices of the languages no Piper voice here speaks (robotic,
   and labelled so: an ElevenLabs voice is the natural-sounding choice for those languages);
2. extra voices the caller passes in, such as a company's live ElevenLabs voice list;
3. a curated list of ElevenLabs voices kept in `elevenlabs_voices.json`, public facts only.

When two sources list the same `voice_id`, the earlier source wins, so live data overrides the
curated file. `select_voices` then keeps the voices of one collection, applies the query filters
and orders the result.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack, get_args

from pydantic import BaseModel, ConfigDict, Field

from pipelines.cloud import LOCAL_VOICE_PREFIX
from pipelines.errors import ModelNotFoundError
from pipelines.models import piper_voice_path
from pipelines.tts.espeak import espeak_voices

logger = logging.getLogger(__name__)

Collection = Literal["arabic", "english", "multilingual"]
COLLECTIONS: tuple[str, ...] = get_args(Collection)

#: Directory of extra Piper voices (`*.onnx` with the `.onnx.json` config beside each).
PIPER_VOICES_DIR_ENV = "PIPER_VOICES_DIR"
#: The Piper voice the agent worker is configured to speak with, when not the packaged one.
PIPER_VOICE_ENV = "PIPER_VOICE"

_CURATED_FILE = "elevenlabs_voices.json"
_GENDERS = frozenset({"male", "female", "neutral"})
# Piper voice files are named `<lang>_<REGION>-<dataset>-<quality>`, e.g. en_US-joe-medium.
_PIPER_NAME = re.compile(
    r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Z]{2})-(?P<dataset>.+?)"
    r"(?:-(?P<quality>x_low|low|medium|high))?$"
)
_ENGLISH_ACCENTS = {
    "US": "american",
    "GB": "british",
    "AU": "australian",
    "IE": "irish",
    "IN": "indian",
}
_COLLECTION_LANGUAGES: dict[str, frozenset[str]] = {
    "arabic": frozenset({"ar"}),
    "english": frozenset({"en"}),
    "multilingual": frozenset({"ar", "en"}),
}


class Voice(BaseModel):
    """One voice as the voice-agent API lists it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    voice_id: str
    name: str
    provider: Literal["local", "elevenlabs"]
    gender: str | None = None
    accent: str | None = None
    age: str | None = None
    category: str | None = None
    description: str | None = None
    use_case: str | None = None
    #: ISO 639-1 codes of the voice's native language(s).
    languages: list[str] = Field(default_factory=list)
    #: The voice can speak through multilingual models (for ElevenLabs, whose languages
    #: include Arabic and English), beyond its native language(s).
    multilingual: bool = False
    featured: bool = False
    preview_url: str | None = None


def curated_elevenlabs_voices() -> list[Voice]:
    """The curated ElevenLabs voices from `elevenlabs_voices.json` (read once per process)."""
    return list(_curated_elevenlabs_voices())


@cache
def _curated_elevenlabs_voices() -> tuple[Voice, ...]:
    text = resources.files(__package__).joinpath(_CURATED_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    return tuple(Voice(provider="elevenlabs", **entry) for entry in data["voices"])


def local_voices(voice_paths: Iterable[Path]) -> list[Voice]:
    """One `Voice` per Piper voice file (`.onnx`), described from the config beside it.

    The config (`<voice>.onnx.json`) gives the language and the dataset (speaker) name; a
    voice without a readable config is described from Piper's file naming convention.
    """
    return [_local_voice(Path(path)) for path in voice_paths]


def installed_local_voices() -> list[Voice]:
    """The local voices of this machine: its Piper voices (see `installed_voice_paths`), then
    its espeak-ng voices."""
    return [*local_voices(installed_voice_paths()), *espeak_catalog_voices()]


def espeak_catalog_voices() -> list[Voice]:
    """The `local:espeak-<language>` voices, described as what they are."""
    return [
        Voice(
            voice_id=voice.voice_id,
            name=voice.name,
            provider="local",
            gender=voice.gender,
            category="local",
            description=(
                f"Offline {voice.name.split(' ')[0]} voice by espeak-ng: formant synthesis, "
                "intelligible but robotic; connect ElevenLabs for a natural voice"
            ),
            languages=[voice.language],
            multilingual=False,
            featured=False,
        )
        for voice in espeak_voices()
    ]


def installed_voice_paths() -> list[Path]:
    """The Piper voice files on this machine: the packaged default voice, the voice named by
    `PIPER_VOICE` (the one the agent worker speaks with) and every voice in the
    `PIPER_VOICES_DIR` directory. A missing voice is skipped."""
    paths: list[Path] = []
    for override in (None, os.environ.get(PIPER_VOICE_ENV) or None):
        try:
            paths.append(piper_voice_path(override))
        except ModelNotFoundError as exc:
            if override:
                logger.warning("%s is not listed: %s", PIPER_VOICE_ENV, exc)
    voices_dir = os.environ.get(PIPER_VOICES_DIR_ENV)
    if voices_dir:
        paths.extend(_voices_in(Path(voices_dir)))

    unique: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def select_voices(
    voices: Iterable[Voice],
    collection: Collection,
    *,
    gender: str | None = None,
    category: str | None = None,
    accent: str | None = None,
    featured_only: bool = False,
    max_voices: int = 100,
) -> list[Voice]:
    """The voices of one collection that pass the filters, best first.

    - `arabic`: voices whose languages include Arabic, or that are multilingual;
    - `english`: voices whose languages include English, or that are multilingual;
    - `multilingual`: multilingual voices, or voices native in both Arabic and English.

    `gender`, `category` and `accent` match case-insensitively and exactly; an empty value is
    no filter. Voices are de-duplicated by `voice_id` first (the first occurrence wins, so
    pass live or local voices before curated ones). The order is: voices native in the
    collection's language(s) first, then featured voices, then by name (stable); at most
    `max_voices` are returned.
    """
    _check_collection(collection)
    if max_voices < 0:
        raise ValueError(f"max_voices must be >= 0, got {max_voices}")
    wanted = {
        "gender": _normalized(gender),
        "category": _normalized(category),
        "accent": _normalized(accent),
    }

    unique: list[Voice] = []
    seen: set[str] = set()
    for voice in voices:
        if voice.voice_id not in seen:
            seen.add(voice.voice_id)
            unique.append(voice)

    chosen = [
        voice
        for voice in unique
        if _in_collection(voice, collection)
        and (voice.featured or not featured_only)
        and all(
            want is None or _normalized(getattr(voice, field)) == want
            for field, want in wanted.items()
        )
    ]
    chosen.sort(
        key=lambda voice: (
            not _is_native(voice, collection),
            not voice.featured,
            voice.name.casefold(),
        )
    )
    return chosen[:max_voices]


class VoiceFilters(TypedDict, total=False):
    """The filters `select_voices` takes."""

    gender: str | None
    category: str | None
    accent: str | None
    featured_only: bool
    max_voices: int


def catalog(
    collection: Collection, *, extra: Iterable[Voice] = (), **filters: Unpack[VoiceFilters]
) -> list[Voice]:
    """One collection of the merged catalog: local voices, then `extra`, then curated ones.

    `extra` carries voices known at request time, e.g. a company's live ElevenLabs voices;
    they take precedence over curated entries with the same `voice_id`.
    """
    _check_collection(collection)
    voices = [*installed_local_voices(), *extra, *curated_elevenlabs_voices()]
    return select_voices(voices, collection, **filters)


def _check_collection(collection: str) -> None:
    if collection not in COLLECTIONS:
        raise ValueError(
            f"unknown voice collection {collection!r}; expected one of {', '.join(COLLECTIONS)}"
        )


def _normalized(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().casefold()
    return value or None


def _language_families(voice: Voice) -> frozenset[str]:
    """ISO 639-1 families of the voice's languages ("en-US" and "en_US" count as "en")."""
    return frozenset(
        code.strip().lower().replace("_", "-").split("-")[0]
        for code in voice.languages
        if code.strip()
    )


def _is_native(voice: Voice, collection: str) -> bool:
    return _COLLECTION_LANGUAGES[collection] <= _language_families(voice)


def _in_collection(voice: Voice, collection: str) -> bool:
    if voice.multilingual:
        return True
    if collection == "multilingual":
        return _is_native(voice, collection)
    return bool(_COLLECTION_LANGUAGES[collection] & _language_families(voice))


def _voices_in(directory: Path) -> list[Path]:
    if not directory.is_dir():
        logger.warning(
            "%s=%s is not a directory; no extra Piper voices listed",
            PIPER_VOICES_DIR_ENV,
            directory,
        )
        return []
    return [
        path
        for path in sorted(directory.glob("*.onnx"))
        if path.is_file() and Path(f"{path}.json").is_file()
    ]


def _read_piper_config(path: Path) -> dict[str, Any]:
    config_path = Path(f"{path}.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("unreadable Piper voice config %s: %s", config_path, exc)
        return {}
    return config if isinstance(config, dict) else {}


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _local_voice(path: Path) -> Voice:
    stem = path.name.removesuffix(".onnx")
    config = _read_piper_config(path)
    named = _PIPER_NAME.match(stem)
    language = config.get("language")
    language = language if isinstance(language, dict) else {}
    audio = config.get("audio")
    audio = audio if isinstance(audio, dict) else {}

    code = _text(language.get("code"))
    family = _text(language.get("family"))
    region = _text(language.get("region"))
    if code and "_" in code:
        family = family or code.split("_", 1)[0]
        region = region or code.split("_", 1)[1]
    if named:
        family = family or named["family"]
        region = region or named["region"]
    family = family.lower() if family else None
    dataset = _text(config.get("dataset")) or (named["dataset"] if named else stem)
    quality = _text(audio.get("quality")) or (named["quality"] if named else None)
    gender = _normalized(_text(config.get("gender")))

    return Voice(
        voice_id=LOCAL_VOICE_PREFIX + stem,
        name=dataset.replace("_", " ").title(),
        provider="local",
        gender=gender if gender in _GENDERS else None,
        accent=_ENGLISH_ACCENTS.get(region or "") if family == "en" else None,
        category="local",
        description=f"Offline Piper voice, {quality} quality" if quality else "Offline Piper voice",
        languages=[family] if family else [],
        multilingual=False,
        featured=True,
    )


def voice_of_type(gender: str, language: str | None) -> Voice | None:
    """The best voice of `gender` for `language` (a code like `en-US`): a local voice first,
    then a curated one. A cloud voice speaks through a local voice of the agent's language
    (Piper for English, espeak-ng for others) until its provider's key is connected."""
    family = (language or "en").lower().replace("_", "-").split("-")[0]
    collection: Collection = (
        "arabic" if family == "ar" else "english" if family == "en" else "multilingual"
    )
    chosen = catalog(collection, gender=gender, max_voices=1)
    return chosen[0] if chosen else None
