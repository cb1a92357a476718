"""Making voices: design from a description, cloning from a recording, deleting, previews.

Voices are made at ElevenLabs (voice design and instant voice cloning) with the key the agent's
calls use, and recorded as the company's (`CustomVoice`): another company can neither list
nor speak with them, and one cannot be deleted while an agent speaks with it. The first two
design steps (a script to read, a description of the voice) need no provider: they are written
here from templates, in the voice's language. Previews are jobs (`jobs.voice_previews`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.sources import FetchError, FetchLimits, download
from shared.audio import AudioDecodeError, AudioTooLongError, decode_to_mono
from shared.egress import EgressPolicy

from ..providers import (
    KeyRejectedError,
    ProviderEndpoints,
    ProviderRequestError,
    ProviderUnavailableError,
    clone_voice,
    create_designed_voice,
    delete_voice,
    design_voice_previews,
)
from ..store.models import CustomVoice, VoicePreviewJob, utcnow
from ..store.repositories import CustomVoiceRepository, VoicePreviewRepository
from .refusal import Refused

T = TypeVar("T")
DESIGNED, TRAINED = "user_designed", "user_trained"
CLONE_MIN_SECONDS = 1.0
CLONE_MAX_SECONDS = 300.0

_SCRIPTS = {
    "en": (
        "Hi there, I'm your voice, and I'm going to tell you about the kind of day we can have "
        "together. Ask me about an order, a booking or an opening time, and I will answer "
        "clearly, calmly and without keeping you waiting."
    ),
    "ar": (
        "مرحبا، أنا صوتك، وسأخبرك عن اليوم الذي يمكن أن نقضيه معا. اسألني عن طلب أو حجز أو "
        "موعد فتح، وسأجيبك بوضوح وهدوء ومن دون أن أجعلك تنتظر طويلا."
    ),
    "fr": (
        "Bonjour, je suis votre voix, et je vais vous parler de la journée que nous pouvons "
        "passer ensemble. Demandez-moi une commande, une réservation ou un horaire, et je vous "
        "répondrai clairement, calmement et sans vous faire attendre."
    ),
    "de": (
        "Hallo, ich bin Ihre Stimme, und ich erzähle Ihnen von dem Tag, den wir zusammen haben "
        "können. Fragen Sie mich nach einer Bestellung, einer Buchung oder einer Öffnungszeit, "
        "und ich antworte klar, ruhig und ohne Sie warten zu lassen."
    ),
    "es": (
        "Hola, soy tu voz, y te voy a contar cómo puede ser el día que pasemos juntos. "
        "Pregúntame por un pedido, una reserva o un horario, y te responderé con claridad, con "
        "calma y sin hacerte esperar."
    ),
}
_LANGUAGE_NAMES = {"en": "English", "ar": "Arabic", "fr": "French", "de": "German", "es": "Spanish"}


def family(language: str | None) -> str:
    return (language or "en").lower().replace("_", "-").split("-")[0]


def generate_script(language: str | None) -> str:
    """A text for a voice to read aloud (ElevenLabs' design wants 100-1000 characters), in
    `language` when there is one for it, else in English."""
    return _SCRIPTS.get(family(language), _SCRIPTS["en"])


def generate_description(
    gender: str, voice_description: str | None, language: str | None, script: str | None
) -> str:
    """A description a voice can be designed from: the gender, the hints given, the language
    and, from the script's length, the pace."""
    hints = (voice_description or "").strip().rstrip(".") or "clear and friendly"
    spoken = _LANGUAGE_NAMES.get(family(language), (language or "English"))
    pace = "a measured, unhurried pace" if len(script or "") > 150 else "a natural pace"
    return (
        f"A {hints} {gender} voice speaking {spoken} with {pace}, "
        "well suited to a helpful phone assistant."
    )


@dataclass(frozen=True)
class Sample:
    generation_id: str
    audio: str
    """Base64."""
    media_type: str


async def design_samples(
    endpoints: ProviderEndpoints, key: str, *, text: str, description: str
) -> list[Sample]:
    """Three candidate voices saying `text`."""
    previews = await _provider(
        design_voice_previews(endpoints, key, description=description, text=text)
    )
    return [
        Sample(p.generated_voice_id, base64.b64encode(p.audio).decode(), p.media_type)
        for p in previews
    ]


async def finish_design(
    session: AsyncSession,
    endpoints: ProviderEndpoints,
    key: str,
    *,
    company_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    generation_id: str,
    name: str,
    gender: str | None,
    language: str | None,
    description: str | None,
) -> CustomVoice:
    """The chosen candidate made a voice of the company's."""
    voice_id = await _provider(
        create_designed_voice(
            endpoints,
            key,
            name=name,
            description=description or f"{name}, a designed voice",
            generated_voice_id=generation_id,
            labels=_labels(gender, language),
        )
    )
    return await _record(
        session, company_id, agent_id, voice_id, DESIGNED, name, gender, language, description
    )


async def clone(
    session: AsyncSession,
    endpoints: ProviderEndpoints,
    key: str,
    *,
    company_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    name: str,
    samples: list[tuple[str, bytes, str]],
    gender: str | None,
    language: str | None,
    description: str | None,
) -> CustomVoice:
    """A voice cloned from recordings `(file name, bytes, content type)`, each checked to be
    audio of 1 s to 5 min first (400 naming the file otherwise)."""
    for filename, data, _type in samples:
        await check_sample(filename, data)
    voice_id = await _provider(
        clone_voice(
            endpoints,
            key,
            name=name,
            files=samples,
            description=description,
            labels=_labels(gender, language),
        )
    )
    return await _record(
        session, company_id, agent_id, voice_id, TRAINED, name, gender, language, description
    )


async def check_sample(filename: str, data: bytes) -> None:
    try:
        audio = await asyncio.to_thread(decode_to_mono, data, 16000, max_seconds=CLONE_MAX_SECONDS)
    except AudioTooLongError:
        raise Refused(
            400, f"{filename}: longer than {CLONE_MAX_SECONDS:.0f} s; cut it", field="audio"
        ) from None
    except AudioDecodeError as exc:
        raise Refused(
            400, f"{filename}: not audio that can be decoded ({exc})", field="audio"
        ) from None
    if len(audio) < CLONE_MIN_SECONDS * 16000:
        raise Refused(
            400,
            f"{filename}: {len(audio) / 16000:.2f} s of audio; a clone needs at least "
            f"{CLONE_MIN_SECONDS:.0f} s of speech (ideally a minute)",
            field="audio",
        )


AUDIO_TYPES = ("audio/", "video/", "application/octet-stream", "application/ogg")


async def fetch_sample(url: str, egress: EgressPolicy, max_bytes: int) -> tuple[bytes, str]:
    """The recording at `url` (through the egress policy): 400 when it cannot be fetched,
    415 when it is served as something other than audio."""
    try:
        data, content_type, _final = await download(
            url, egress, FetchLimits(max_bytes=max_bytes, timeout=20.0)
        )
    except FetchError as exc:
        raise Refused(400, f"audio_url: {exc}", field="audio_url") from None
    media = content_type.split(";")[0].strip().lower()
    if media and not media.startswith(AUDIO_TYPES):
        raise Refused(
            415,
            f"audio_url: served as {media}, not audio (mp3, wav, ogg, m4a...)",
            field="audio_url",
        )
    return data, media or "application/octet-stream"


def decode_base64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "audio_base64: not valid base64", field="audio_base64") from None


async def delete_own_voice(
    session: AsyncSession,
    endpoints: ProviderEndpoints,
    key: str | None,
    *,
    company_id: uuid.UUID,
    voice_id: str,
    own_elevenlabs: bool,
) -> None:
    """Delete a voice the company made, or one of its ElevenLabs account's own voices
    (`own_elevenlabs`); 409 naming the agents that speak with it, 404 for a voice it does not
    own. The provider's copy goes first: a voice ElevenLabs no longer has is only forgotten."""
    repo = CustomVoiceRepository(session)
    record = await repo.get(company_id=company_id, voice_id=voice_id)
    if record is None and not own_elevenlabs:
        raise Refused(404, f"voice {voice_id!r} is not one of this company's own voices")
    users = await repo.agents_using(company_id=company_id, voice_id=voice_id)
    if users:
        named = ", ".join(f"{name} ({agent_id})" for agent_id, name in users)
        raise Refused(
            409,
            f"voice {voice_id!r} is the voice of {len(users)} agent(s): {named}; give them "
            "another voice first",
            code="RESOURCE_LOCKED",
        )
    if key is None:
        raise Refused(409, "deleting an ElevenLabs voice needs the ElevenLabs key it was made with")
    try:
        await _provider(delete_voice(endpoints, key, voice_id))
    except Refused as exc:
        if exc.status != 404 or record is None:
            raise
    if record is not None:
        await repo.delete(record)
    await session.commit()


async def check_voice_owner(session: AsyncSession, company_id: uuid.UUID, voice_id: str) -> None:
    """400 when `voice_id` is a voice another company made (without saying whose)."""
    owner = await CustomVoiceRepository(session).owner(voice_id)
    if owner is not None and owner != company_id:
        raise Refused(
            400,
            f"voice_id: {voice_id!r} is not a voice this company can use",
            field="voice_id",
        )


async def start_preview(
    session: AsyncSession,
    *,
    company_id: uuid.UUID,
    agent_id: uuid.UUID,
    voice_id: str,
    text: str,
    keep: timedelta,
) -> VoicePreviewJob:
    job = await VoicePreviewRepository(session).create(
        company_id=company_id,
        agent_id=agent_id,
        voice_id=voice_id,
        text=text,
        status="pending",
        expires_at=utcnow() + keep,
    )
    await session.commit()
    return job


def _labels(gender: str | None, language: str | None) -> dict[str, str]:
    return {k: v for k, v in (("gender", gender), ("language", language)) if v}


async def _record(
    session: AsyncSession,
    company_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    voice_id: str,
    source: str,
    name: str,
    gender: str | None,
    language: str | None,
    description: str | None,
) -> CustomVoice:
    row = await CustomVoiceRepository(session).create(
        company_id=company_id,
        agent_id=agent_id,
        voice_id=voice_id,
        provider="elevenlabs",
        source=source,
        name=name,
        gender=gender,
        language=language,
        description=description,
    )
    await session.commit()
    return row


async def _provider(call: Awaitable[T]) -> T:
    """Await a provider call, its failures as refusals: ElevenLabs refusing the key 400
    `invalid_key`, refusing the request 400 with its reason, not knowing the voice 404,
    unreachable 502."""
    try:
        return await call
    except KeyRejectedError as exc:
        raise Refused(400, f"invalid_key: {exc}; reconnect the ElevenLabs integration") from None
    except ProviderRequestError as exc:
        raise Refused(400, f"ElevenLabs refused it: {exc}") from None
    except LookupError as exc:
        raise Refused(404, str(exc)) from None
    except ProviderUnavailableError as exc:
        raise Refused(502, f"ElevenLabs could not be reached: {exc}") from None
