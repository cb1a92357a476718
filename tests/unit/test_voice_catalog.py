"""The voice catalog: curated ElevenLabs data, installed Piper voices, collections and filters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from control_plane.voices import catalog as catalog_module
from control_plane.voices.catalog import (
    Voice,
    catalog,
    curated_elevenlabs_voices,
    installed_local_voices,
    local_voices,
    select_voices,
)
from pipelines.errors import ModelNotFoundError

DATA_FILE = Path(catalog_module.__file__).with_name("elevenlabs_voices.json")
JOE = "local:en_US-joe-medium"

# ElevenLabs' default voices and their public ids.
DEFAULT_VOICES = {
    "21m00Tcm4TlvDq8ikWAM": "Rachel",
    "29vD33N1CtxCmqQRPOHJ": "Drew",
    "2EiwWnXFnvU5JabPnv8n": "Clyde",
    "5Q0t7uMcjvnagumLfvZi": "Paul",
    "9BWtsMINqrJLrRacOk9x": "Aria",
    "AZnzlk1XvdvUeBnXmlld": "Domi",
    "CYw3kZ02Hs0563khs1Fj": "Dave",
    "CwhRBWXzGAHq8TQ4Fs17": "Roger",
    "D38z5RcWu1voky8WS1ja": "Fin",
    "EXAVITQu4vr4xnSDxMaL": "Sarah",
    "FGY2WhTYpPnrIDTdsKH5": "Laura",
    "GBv7mTt0atIp3Br8iCZE": "Thomas",
    "IKne3meq5aSn9XLyUdCD": "Charlie",
    "JBFqnCBsd6RMkjVDRZzb": "George",
    "LcfcDJNUP1GQjkzn1xUU": "Emily",
    "MF3mGyEYCl7XYWbV9V6O": "Elli",
    "N2lVS1w4EtoT3dr4eOWO": "Callum",
    "ODq5zmih8GrVes37Dizd": "Patrick",
    "SAz9YHcvj6GT2YYXdXww": "River",
    "SOYHLrjzK2X1ezoPC6cr": "Harry",
    "TX3LPaxmHKxFdv7VOQHJ": "Liam",
    "ThT5KcBeYPX3keUQqHPh": "Dorothy",
    "TxGEqnHWrfWFTfGW9XjX": "Josh",
    "VR6AewLTigWG4xSOukaG": "Arnold",
    "XB0fDUnXU5powFXDhCwa": "Charlotte",
    "Xb7hH8MSUJpSbSDYk0k2": "Alice",
    "XrExE9yKIg1WjnnlVkGX": "Matilda",
    "ZQe5CZNOzWyzPSCn5a3c": "James",
    "Zlb1dXrM653N07WRdFW3": "Joseph",
    "bIHbv24MWmeRgasZH58o": "Will",
    "bVMeCyTHy58xNoL34h3p": "Jeremy",
    "cgSgspJ2msm6clMCkdW9": "Jessica",
    "cjVigY5qzO86Huf0OWal": "Eric",
    "flq6f7yk4E4fJM5XTYuZ": "Michael",
    "g5CIjZEefAph4nQFvHAz": "Ethan",
    "iP95p4xoKVk53GoZ742B": "Chris",
    "jBpfuIE2acCO8z3wKNLl": "Gigi",
    "jsCqWAovK2LkecY7zXl4": "Freya",
    "nPczCjzI2devNBz1zQrb": "Brian",
    "oWAxZDx7w5VEj9dCyTzz": "Grace",
    "onwK4e9ZLuTAKqWW03F9": "Daniel",
    "pFZP5JQG7iQjIQuC4Bku": "Lily",
    "pMsXgVXv3BLzUgSXRplE": "Serena",
    "pNInz6obpgDQGcFmaJgB": "Adam",
    "piTKgcLEGmPE4e6mEKli": "Nicole",
    "pqHfZKP75CvOlQylNhV4": "Bill",
    "t0jbNlBVZ17f02VDIeMI": "Jessie",
    "yoZ06aMxZJJ28mfd3POQ": "Sam",
    "z9fAnlkpzviPz146aGWa": "Glinda",
    "zcAOhNBS3c14rBihAFp1": "Giovanni",
    "zrHiDhphv9ZnVXBqCLjz": "Mimi",
}


def _voice(voice_id: str, **fields: object) -> Voice:
    values: dict[str, object] = {"name": voice_id, "provider": "elevenlabs", "languages": ["en"]}
    values.update(fields)
    return Voice(voice_id=voice_id, **values)


def _write_piper_voice(directory: Path, stem: str, config: dict | None) -> Path:
    path = directory / f"{stem}.onnx"
    path.write_bytes(b"")
    if config is not None:
        Path(f"{path}.json").write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.fixture
def no_extra_local_voices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPER_VOICES_DIR", raising=False)
    monkeypatch.delenv("PIPER_VOICE", raising=False)


# --- the curated data file ---


def test_curated_file_is_well_formed() -> None:
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    assert data["source"].strip()
    entries = data["voices"]
    ids = [entry["voice_id"] for entry in entries]
    assert len(ids) == len(set(ids)), "voice ids are unique"
    for entry in entries:
        assert re.fullmatch(r"[A-Za-z0-9]{20}", entry["voice_id"]), entry
        assert entry["name"].strip(), entry
        assert entry["gender"] in {"male", "female", "neutral", None}, entry
        assert entry["age"] in {"young", "middle_aged", "old", None}, entry
        assert entry["accent"] is None or entry["accent"] == entry["accent"].lower(), entry
        assert entry["category"] in {"premade", "professional"}, entry
        assert entry["languages"], entry
        assert all(re.fullmatch(r"[a-z]{2}", code) for code in entry["languages"]), entry
        assert isinstance(entry["multilingual"], bool), entry
        assert isinstance(entry["featured"], bool), entry


def test_curated_voices_load_as_elevenlabs_voices() -> None:
    voices = curated_elevenlabs_voices()
    assert len(voices) == len(json.loads(DATA_FILE.read_text(encoding="utf-8"))["voices"])
    assert all(voice.provider == "elevenlabs" for voice in voices)
    featured = {voice.name for voice in voices if voice.featured}
    assert featured == {"Rachel", "Sarah", "George", "Charlotte", "Brian", "Adam", "Aria", "Daniel"}


def test_curated_voices_hold_elevenlabs_default_ids() -> None:
    by_id = {voice.voice_id: voice for voice in curated_elevenlabs_voices()}
    for voice_id, name in DEFAULT_VOICES.items():
        assert voice_id in by_id, name
        assert by_id[voice_id].name == name
        assert by_id[voice_id].category == "premade"
        assert "en" in by_id[voice_id].languages


def test_sarah_is_a_female_american_voice() -> None:
    sarah = next(v for v in curated_elevenlabs_voices() if v.voice_id == "EXAVITQu4vr4xnSDxMaL")
    assert sarah.name == "Sarah"
    assert sarah.gender == "female"
    assert sarah.accent == "american"
    assert sarah.multilingual


def test_curated_voices_include_arabic_native_voices() -> None:
    arabic = [v for v in curated_elevenlabs_voices() if "ar" in v.languages]
    assert arabic
    assert {v.gender for v in arabic} == {"male", "female"}


def test_curated_list_is_loaded_once() -> None:
    first = curated_elevenlabs_voices()
    second = curated_elevenlabs_voices()
    assert first is not second, "callers get their own list"
    assert all(a is b for a, b in zip(first, second, strict=True))


# --- local Piper voices ---


def test_installed_packaged_voice_is_listed_in_english(no_extra_local_voices: None) -> None:
    installed = {voice.voice_id: voice for voice in installed_local_voices()}
    joe = installed[JOE]
    assert joe.provider == "local"
    assert joe.category == "local"
    assert joe.languages == ["en"]
    assert joe.accent == "american"
    assert joe.name == "Joe"
    assert joe.featured and not joe.multilingual

    english = catalog("english")
    assert JOE in [voice.voice_id for voice in english]
    assert next(v for v in english if v.voice_id == JOE).languages == ["en"]


def test_local_voice_is_described_from_its_config(tmp_path: Path) -> None:
    path = _write_piper_voice(
        tmp_path,
        "ar_JO-kareem-low",
        {
            "audio": {"sample_rate": 16000, "quality": "low"},
            "language": {"code": "ar_JO", "family": "ar", "region": "JO"},
            "dataset": "kareem",
            "gender": "Male",
        },
    )
    (voice,) = local_voices([path])
    assert voice.voice_id == "local:ar_JO-kareem-low"
    assert voice.name == "Kareem"
    assert voice.languages == ["ar"]
    assert voice.gender == "male"
    assert voice.accent is None
    assert "low" in (voice.description or "")


def test_local_voice_without_config_uses_the_file_name(tmp_path: Path) -> None:
    (voice,) = local_voices([_write_piper_voice(tmp_path, "en_GB-alba-medium", None)])
    assert voice.voice_id == "local:en_GB-alba-medium"
    assert voice.name == "Alba"
    assert voice.languages == ["en"]
    assert voice.accent == "british"
    assert voice.gender is None


def test_piper_voices_dir_adds_voices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_piper_voice(tmp_path, "en_GB-alba-medium", {"language": {"code": "en_GB"}})
    _write_piper_voice(tmp_path, "en_US-noconfig-low", None)  # no config beside: not a voice
    monkeypatch.setenv("PIPER_VOICES_DIR", str(tmp_path))
    monkeypatch.delenv("PIPER_VOICE", raising=False)
    ids = [voice.voice_id for voice in installed_local_voices()]
    piper = [voice_id for voice_id in ids if not voice_id.startswith("local:espeak-")]
    assert piper == [JOE, "local:en_GB-alba-medium"]
    # the espeak-ng voices come after the Piper ones, two per language
    assert ids[2:4] == ["local:espeak-ar", "local:espeak-ar-female"]


def test_missing_local_voices_are_skipped(
    monkeypatch: pytest.MonkeyPatch, no_extra_local_voices: None
) -> None:
    def missing(override: object = None) -> Path:
        raise ModelNotFoundError("Piper voice", "<nowhere>", "install one")

    monkeypatch.setattr(catalog_module, "piper_voice_path", missing)
    monkeypatch.setattr(catalog_module, "espeak_voices", lambda: [])  # espeak-ng not installed
    assert installed_local_voices() == []
    assert all(voice.provider == "elevenlabs" for voice in catalog("english"))


def test_espeak_voices_are_listed_for_their_language_and_labelled_robotic(
    no_extra_local_voices: None,
) -> None:
    arabic = {voice.voice_id: voice for voice in catalog("arabic", max_voices=1000)}
    male, female = arabic["local:espeak-ar"], arabic["local:espeak-ar-female"]
    assert (male.gender, female.gender) == ("male", "female")
    assert male.provider == "local" and male.languages == ["ar"]
    assert "robotic" in (male.description or "") and "ElevenLabs" in (male.description or "")
    # not featured: the curated neural voices come first within the language
    assert not male.featured
    english = {voice.voice_id for voice in catalog("english", max_voices=1000)}
    assert not any(voice_id.startswith("local:espeak-") for voice_id in english)


# --- collections ---


def test_arabic_never_lists_an_english_only_voice(no_extra_local_voices: None) -> None:
    english_only = _voice("local:en_US-amy-medium", provider="local", multilingual=False)
    arabic = catalog("arabic", extra=[english_only], max_voices=1000)
    ids = {voice.voice_id for voice in arabic}
    assert JOE not in ids
    assert english_only.voice_id not in ids
    assert all("ar" in voice.languages or voice.multilingual for voice in arabic)


def test_arabic_lists_arabic_native_voices_first(no_extra_local_voices: None) -> None:
    arabic = catalog("arabic", max_voices=1000)
    natives = ["ar" in voice.languages for voice in arabic]
    assert natives[0]
    assert natives == sorted(natives, reverse=True)


def test_english_lists_featured_voices_first_then_by_name(no_extra_local_voices: None) -> None:
    english = catalog("english", max_voices=1000)
    english_native = [voice for voice in english if "en" in voice.languages]
    featured = [voice.featured for voice in english_native]
    assert featured == sorted(featured, reverse=True)
    rest = [voice.name.casefold() for voice in english_native if not voice.featured]
    assert rest == sorted(rest)


def test_multilingual_collection() -> None:
    bilingual = _voice("bilingual", languages=["ar", "en"], multilingual=False)
    arabic_only = _voice("arabic-only", languages=["ar"], multilingual=False)
    chosen = select_voices(
        [bilingual, arabic_only, *curated_elevenlabs_voices()], "multilingual", max_voices=1000
    )
    ids = [voice.voice_id for voice in chosen]
    assert ids[0] == "bilingual"
    assert "arabic-only" not in ids
    assert all(voice.multilingual for voice in chosen[1:])


def test_unknown_collection_is_rejected() -> None:
    with pytest.raises(ValueError, match="french"):
        select_voices(curated_elevenlabs_voices(), "french")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="french"):
        catalog("french")  # type: ignore[arg-type]


# --- filters ---


def test_gender_filter(no_extra_local_voices: None) -> None:
    female = catalog("english", gender="female", max_voices=1000)
    assert female
    assert all(voice.gender == "female" for voice in female)
    assert [v.voice_id for v in catalog("english", gender="FEMALE ", max_voices=1000)] == [
        v.voice_id for v in female
    ]


def test_accent_filter(no_extra_local_voices: None) -> None:
    british = catalog("english", accent="British", max_voices=1000)
    assert {voice.name for voice in british} >= {"George", "Daniel", "Alice", "Lily"}
    assert all(voice.accent == "british" for voice in british)


def test_category_filter(no_extra_local_voices: None) -> None:
    local = catalog("english", category="local")
    assert [voice.voice_id for voice in local] == [JOE]


def test_featured_only(no_extra_local_voices: None) -> None:
    featured = catalog("english", featured_only=True)
    assert featured
    assert all(voice.featured for voice in featured)
    assert JOE in {voice.voice_id for voice in featured}
    assert "Sarah" in {voice.name for voice in featured}


def test_max_voices(no_extra_local_voices: None) -> None:
    assert len(catalog("english", max_voices=3)) == 3
    assert catalog("english", max_voices=0) == []
    assert len(catalog("english")) <= 100
    with pytest.raises(ValueError):
        catalog("english", max_voices=-1)


def test_empty_filters_are_no_filters(no_extra_local_voices: None) -> None:
    assert catalog("english", gender="", accent=" ") == catalog("english")


# --- merging ---


def test_extra_voice_overrides_curated_voice(no_extra_local_voices: None) -> None:
    live = _voice(
        "EXAVITQu4vr4xnSDxMaL", name="Sarah (company)", gender="female", multilingual=True
    )
    english = catalog("english", extra=[live], max_voices=1000)
    sarahs = [voice for voice in english if voice.voice_id == "EXAVITQu4vr4xnSDxMaL"]
    assert sarahs == [live]


def test_extra_voice_filtered_by_its_own_labels(no_extra_local_voices: None) -> None:
    live = _voice("EXAVITQu4vr4xnSDxMaL", name="Sarah", gender="male", multilingual=True)
    female = catalog("english", extra=[live], gender="female", max_voices=1000)
    assert "EXAVITQu4vr4xnSDxMaL" not in {voice.voice_id for voice in female}


def test_duplicates_keep_the_first_occurrence() -> None:
    first = _voice("same", name="First")
    second = _voice("same", name="Second")
    assert select_voices([first, second], "english") == [first]


def test_the_fake_elevenlabs_serves_the_catalogs_voices_with_the_same_facts() -> None:
    """The fake keeps its own copy of the voice library; this keeps the two from drifting."""
    from fake_providers.elevenlabs import default_library_voices

    served = {v["voice_id"]: v for v in default_library_voices()}
    for voice in curated_elevenlabs_voices():
        assert voice.voice_id in served, voice.voice_id
        fake = served[voice.voice_id]
        for field in ("name", "category", "gender", "accent", "age", "description", "use_case"):
            assert (fake.get(field) or None) == getattr(voice, field), (voice.voice_id, field)
        assert fake["languages"] == voice.languages, voice.voice_id
