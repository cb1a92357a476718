"""`/v1/api/voices/list` and `/v1/api/voice/create`: seed 001's voices, in its envelope.

The same catalog as `/voice-agents/{arabic,english,multilingual}` (local voices, the public
ElevenLabs voices) plus the company's own voices, each with a `de-DE`-style language; and a
custom voice cloned from samples through the same code as seed 002's clone.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel

from ...schemas.envelope import envelope_of, ok
from ...services import voices as making
from ...store.repositories import CustomVoiceRepository
from ...voices.catalog import Voice, curated_elevenlabs_voices, installed_local_voices
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute
from ..routes.integrations import endpoints, provider_key
from .common import seed_error

router = APIRouter(prefix="/v1/api", tags=["voices"], route_class=SeedRoute)

REGIONS = {
    "ar": "SA",
    "de": "DE",
    "en": "US",
    "es": "ES",
    "fr": "FR",
    "hi": "IN",
    "it": "IT",
    "nl": "NL",
    "pt": "PT",
    "ru": "RU",
    "tr": "TR",
}
"""The region a language's voices are listed with when the voice names none."""
ACCENT_REGIONS = {"british": "GB", "australian": "AU", "irish": "IE", "indian": "IN"}
MAX_SAMPLES = 10


class SeedVoice(BaseModel):
    id: str
    name: str
    language: str | None
    gender: str | None
    preview_url: str | None
    source: str


class SeedVoices(BaseModel):
    voices: list[SeedVoice]


def locale(language: str | None, accent: str | None = None) -> str | None:
    """`de` -> `de-DE`, `en` with a british accent -> `en-GB`; a full code stays as it is."""
    if not language:
        return None
    parts = language.replace("_", "-").split("-")
    family = parts[0].lower()
    if len(parts) > 1:
        return f"{family}-{parts[1].upper()}"
    region = ACCENT_REGIONS.get((accent or "").lower()) or REGIONS.get(family)
    return f"{family}-{region}" if region else family


def _catalog_voice(voice: Voice, source: str) -> SeedVoice:
    return SeedVoice(
        id=voice.voice_id,
        name=voice.name,
        language=locale(voice.languages[0] if voice.languages else None, voice.accent),
        gender=voice.gender,
        preview_url=voice.preview_url,
        source=source,
    )


@router.get(
    "/voices/list",
    responses=error_responses(400, 401, 429),
    response_model=envelope_of(SeedVoices),
)
async def list_voices(
    session: SessionDep,
    company_id: CompanyDep,
    language: Annotated[
        str | None,
        Query(
            max_length=16,
            pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$",
            description="`de-DE`, `ar`, `en-GB`...: voices of that language (a bare `de` "
            "matches every region)",
        ),
    ] = None,
    gender: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    """The voices the company's agents can speak with: local ones, the public ElevenLabs
    voices, and the company's own (designed, cloned)."""
    voices = [_catalog_voice(v, "local") for v in installed_local_voices()]
    voices += [_catalog_voice(v, "public") for v in curated_elevenlabs_voices()]
    for own in await CustomVoiceRepository(session).list(company_id=company_id):
        voices.append(
            SeedVoice(
                id=own.voice_id,
                name=own.name,
                language=locale(own.language),
                gender=own.gender,
                preview_url=None,
                source=own.source,
            )
        )
    if language:
        wanted = language.replace("_", "-").lower()
        exact = "-" in wanted
        voices = [
            v
            for v in voices
            if v.language
            and (
                v.language.lower() == wanted
                if exact
                else v.language.lower().split("-")[0] == wanted
            )
        ]
    if gender:
        voices = [v for v in voices if (v.gender or "").lower() == gender.lower()]
    return ok(SeedVoices(voices=voices).model_dump(mode="json"))


@router.post(
    "/voice/create",
    status_code=201,
    responses=error_responses(400, 401, 409, 413, 415, 429, 502),
    response_model=envelope_of(SeedVoice),
)
async def create_voice(
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    audio_samples: Annotated[
        list[UploadFile], File(description="Recordings of the voice (1 s to 5 min each)")
    ],
    description: Annotated[str | None, Form(max_length=1000)] = None,
    gender: Annotated[str | None, Form(pattern="^(male|female|neutral)$")] = None,
    language: Annotated[str | None, Form(max_length=16)] = None,
) -> dict[str, Any]:
    """A custom voice cloned from the samples (ElevenLabs instant voice cloning, with the
    company's ElevenLabs key): one of the company's own voices."""
    key = await provider_key(session, settings, vault, company_id, "elevenlabs")
    if key is None:
        raise seed_error(
            409,
            "creating a voice needs an ElevenLabs key: connect one (POST /integrations/elevenlabs)",
            code="PROVIDER_NOT_CONNECTED",
        )
    if not audio_samples or len(audio_samples) > MAX_SAMPLES:
        raise seed_error(
            400, f"audio_samples: give 1 to {MAX_SAMPLES} files", field="audio_samples"
        )
    samples = []
    for number, upload in enumerate(audio_samples):
        data = await upload.read(settings.voice_clone_max_bytes + 1)
        label = upload.filename or f"sample-{number + 1}"
        if len(data) > settings.voice_clone_max_bytes:
            raise seed_error(
                413,
                f"{label}: larger than {settings.voice_clone_max_bytes} bytes",
                field="audio_samples",
            )
        media = (upload.content_type or "").lower()
        if media and not media.startswith(making.AUDIO_TYPES):
            raise seed_error(415, f"{label}: sent as {media}, not audio", field="audio_samples")
        samples.append((label, data, media or "application/octet-stream"))
    voice = await making.clone(
        session,
        endpoints(settings),
        key,
        company_id=company_id,
        agent_id=None,
        name=name,
        samples=samples,
        gender=gender,
        language=language,
        description=description,
    )
    created = SeedVoice(
        id=voice.voice_id,
        name=voice.name,
        language=locale(voice.language),
        gender=voice.gender,
        preview_url=None,
        source=voice.source,
    )
    return ok(created.model_dump(mode="json"), "Voice created")
