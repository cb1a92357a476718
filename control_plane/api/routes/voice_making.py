"""Seed 002's voice making under `/v1/agents/{agent_id}/voice/...`: the four-step design flow,
cloning from a recording, deleting an own voice, and asynchronous previews.

Design and cloning happen at ElevenLabs with the key the agent's calls use (its own, the
company's, else the deployment's): without one they answer 409 saying so. The voices made are
the company's (`services.voices`).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response

from ...providers import is_own_voice
from ...schemas.voice_making import (
    CloneRequest,
    DescriptionRequest,
    DescriptionResponse,
    DesignRequest,
    OutputResource,
    OwnVoice,
    PreviewJob,
    PreviewRequest,
    PreviewStarted,
    Sample,
    SamplesRequest,
    SamplesResponse,
    ScriptRequest,
    ScriptResponse,
)
from ...services import voices as making
from ...services.agents import find_agent
from ...settings import Settings
from ...store.models import VoicePreviewJob
from ...store.repositories import CustomVoiceRepository, VoicePreviewRepository
from ...voices.catalog import curated_elevenlabs_voices
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import GuardedRoute
from .integrations import VoiceCacheDep, endpoints, live_voices, provider_key
from .speech import speech_engines

router = APIRouter(
    prefix="/v1/agents/{agent_id}/voice", tags=["voice making"], route_class=GuardedRoute
)

JobIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
VoiceIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_:.\-]+$")]
NO_KEY = (
    "making voices needs an ElevenLabs key: connect one for the agent "
    "(POST /v1/agents/{agent_id}/voice/integrations/elevenlabs) or the company "
    "(POST /integrations/elevenlabs)"
)


async def _key(
    session, settings: Settings, vault, company_id: uuid.UUID, agent_id: uuid.UUID
) -> str:
    key = await provider_key(session, settings, vault, company_id, "elevenlabs", agent_id)
    if key is None:
        raise HTTPException(409, NO_KEY.replace("{agent_id}", str(agent_id)))
    return key


@router.post("/design/generate-script", responses=error_responses(400, 401, 404, 429))
async def generate_script(
    agent_id: str, session: SessionDep, company_id: CompanyDep, body: ScriptRequest | None = None
) -> ScriptResponse:
    """Step 1: a text for candidate voices to read, in the language asked (English by
    default)."""
    await find_agent(session, company_id, agent_id)
    return ScriptResponse(voice_sample=making.generate_script(body.language if body else None))


@router.post("/design/generate-description", responses=error_responses(400, 401, 404, 429))
async def generate_description(
    agent_id: str, body: DescriptionRequest, session: SessionDep, company_id: CompanyDep
) -> DescriptionResponse:
    """Step 2: a description to design the voice from (`gender` required; the rest are
    hints)."""
    await find_agent(session, company_id, agent_id)
    text = making.generate_description(
        body.gender, body.voice_description, body.language, body.script
    )
    return DescriptionResponse(voice_description=text)


@router.post("/design/generate-samples", responses=error_responses(400, 401, 404, 409, 429, 502))
async def generate_samples(
    agent_id: str,
    body: SamplesRequest,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> SamplesResponse:
    """Step 3: three candidate voices saying `text` (ElevenLabs voice design); pass the
    chosen `generation_id` to step 4."""
    agent = await find_agent(session, company_id, agent_id)
    key = await _key(session, settings, vault, company_id, agent.id)
    samples = await making.design_samples(
        endpoints(settings), key, text=body.text, description=body.description
    )
    return SamplesResponse(
        samples=[
            Sample(generation_id=s.generation_id, audio=s.audio, media_type=s.media_type)
            for s in samples
        ]
    )


@router.post("/design", status_code=201, responses=error_responses(400, 401, 404, 409, 429, 502))
async def design(
    agent_id: str,
    body: DesignRequest,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    cache: VoiceCacheDep,
    company_id: CompanyDep,
) -> OwnVoice:
    """Step 4: make the chosen candidate a voice of the company (`user_designed`)."""
    agent = await find_agent(session, company_id, agent_id)
    key = await _key(session, settings, vault, company_id, agent.id)
    voice = await making.finish_design(
        session,
        endpoints(settings),
        key,
        company_id=company_id,
        agent_id=agent.id,
        generation_id=body.generation_id,
        name=body.name,
        gender=body.gender,
        language=body.language,
        description=body.description,
    )
    cache.forget(key)
    return OwnVoice.model_validate(voice)


@router.post(
    "/clone", status_code=201, responses=error_responses(400, 401, 404, 409, 413, 415, 429, 502)
)
async def clone(
    agent_id: str,
    body: CloneRequest,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    cache: VoiceCacheDep,
    company_id: CompanyDep,
) -> OwnVoice:
    """Clone a voice from one recording (`audio_url`, fetched by the server, or
    `audio_base64` for short clips): a voice of the company (`user_trained`)."""
    agent = await find_agent(session, company_id, agent_id)
    key = await _key(session, settings, vault, company_id, agent.id)
    if body.audio_url is not None:
        data, media = await making.fetch_sample(
            body.audio_url, settings.egress_policy(), settings.voice_clone_max_bytes
        )
        filename = body.audio_url.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or "sample"
    else:
        data, media, filename = making.decode_base64(body.audio_base64 or ""), "", "sample"
    voice = await making.clone(
        session,
        endpoints(settings),
        key,
        company_id=company_id,
        agent_id=agent.id,
        name=body.name,
        samples=[(filename, data, media or "application/octet-stream")],
        gender=body.gender,
        language=body.language,
        description=body.description,
    )
    cache.forget(key)
    return OwnVoice.model_validate(voice)


@router.get("/preview/{job_id}", responses=error_responses(400, 401, 404, 429))
async def preview_status(
    agent_id: str,
    job_id: JobIdPath,
    request: Request,
    session: SessionDep,
    company_id: CompanyDep,
) -> PreviewJob:
    """A preview job: `pending`, `processing`, `completed` (its audio in `output_resources`)
    or `failed` (the reason in `error`)."""
    agent = await find_agent(session, company_id, agent_id)
    job = await VoicePreviewRepository(session).get(
        company_id=company_id, agent_id=agent.id, job_id=job_id
    )
    if job is None:
        raise HTTPException(404, f"preview job {job_id} not found (or expired)")
    return _job(job, str(request.url_for("preview_audio", agent_id=agent_id, job_id=job_id)))


@router.get(
    "/preview/{job_id}/audio",
    response_class=Response,
    responses={200: {"content": {"audio/mpeg": {}}}, **error_responses(400, 401, 404, 429)},
)
async def preview_audio(
    agent_id: str, job_id: JobIdPath, session: SessionDep, company_id: CompanyDep
) -> Response:
    """A completed preview's MP3."""
    agent = await find_agent(session, company_id, agent_id)
    job = await VoicePreviewRepository(session).get(
        company_id=company_id, agent_id=agent.id, job_id=job_id, audio=True
    )
    if job is None:
        raise HTTPException(404, f"preview job {job_id} not found (or expired)")
    if job.audio is None:  # the audio does not exist (yet)
        raise HTTPException(404, f"preview job {job_id} is {job.status}: it has no audio")
    return Response(job.audio, media_type="audio/mpeg")


@router.post(
    "/{voice_id}/preview", status_code=202, responses=error_responses(400, 401, 404, 409, 429)
)
async def start_preview(
    agent_id: str,
    voice_id: VoiceIdPath,
    body: PreviewRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    cache: VoiceCacheDep,
    company_id: CompanyDep,
) -> PreviewStarted:
    """Start a preview of the voice saying `text`; poll `GET .../voice/preview/{job_id}`."""
    agent = await find_agent(session, company_id, agent_id)
    await _usable_voice(request, session, settings, vault, cache, company_id, agent.id, voice_id)
    job = await making.start_preview(
        session,
        company_id=company_id,
        agent_id=agent.id,
        voice_id=voice_id,
        text=body.text,
        keep=timedelta(hours=settings.voice_preview_hours),
    )
    previews = getattr(request.app.state, "previews", None)
    if previews is not None:
        previews.wake.set()
    return PreviewStarted(user_job_id=job.id)


@router.delete(
    "/{voice_id}", status_code=204, responses=error_responses(400, 401, 404, 409, 429, 502)
)
async def delete_voice(
    agent_id: str,
    voice_id: VoiceIdPath,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    cache: VoiceCacheDep,
    company_id: CompanyDep,
) -> Response:
    """Delete a voice the company owns (`user_designed`, `user_trained`, or its ElevenLabs
    account's own, `user_elevenlabs`); 409 naming the agents that speak with it. Public and
    local voices cannot be deleted."""
    agent = await find_agent(session, company_id, agent_id)
    key = await provider_key(session, settings, vault, company_id, "elevenlabs", agent.id)
    own = await CustomVoiceRepository(session).get(company_id=company_id, voice_id=voice_id)
    own_elevenlabs = False
    if own is None:
        if voice_id.startswith("local:") or any(
            v.voice_id == voice_id for v in curated_elevenlabs_voices()
        ):
            raise HTTPException(400, f"voice {voice_id!r} is a public voice: it cannot be deleted")
        if key is not None:
            listed = await live_voices(cache, key, settings)
            own_elevenlabs = any(v.voice_id == voice_id and is_own_voice(v) for v in listed)
        if not own_elevenlabs:
            raise HTTPException(404, f"voice {voice_id!r} not found among this agent's own voices")
    await making.delete_own_voice(
        session,
        endpoints(settings),
        key,
        company_id=company_id,
        voice_id=voice_id,
        own_elevenlabs=own_elevenlabs,
    )
    if own_elevenlabs and key is not None:
        cache.forget(key)
    return Response(status_code=204)


async def _usable_voice(
    request: Request,
    session,
    settings: Settings,
    vault,
    cache,
    company_id: uuid.UUID,
    agent_id: uuid.UUID,
    voice_id: str,
) -> None:
    """404 unless the voice is one this agent can speak with: an installed local voice, a
    public voice, one of the company's own, or one of its ElevenLabs account's."""
    if voice_id.startswith("local:"):
        if voice_id not in speech_engines(request).local_voice_ids():
            raise HTTPException(404, f"local voice {voice_id!r} is not installed")
        return
    if any(v.voice_id == voice_id for v in curated_elevenlabs_voices()):
        return
    await making.check_voice_owner(session, company_id, voice_id)
    if await CustomVoiceRepository(session).get(company_id=company_id, voice_id=voice_id):
        return
    key = await provider_key(session, settings, vault, company_id, "elevenlabs", agent_id)
    if key is not None and any(
        v.voice_id == voice_id for v in await live_voices(cache, key, settings)
    ):
        return
    raise HTTPException(404, f"voice {voice_id!r} not found")


def _job(job: VoicePreviewJob, audio_url: str) -> PreviewJob:
    resources = [OutputResource(id=job.id, file_url=audio_url)] if job.status == "completed" else []
    return PreviewJob(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        voice_id=job.voice_id,
        text=job.text,
        error=job.error,
        output_resources=resources,
        created_at=job.created_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
    )
