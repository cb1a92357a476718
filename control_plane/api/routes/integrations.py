"""Provider keys: connect a company's (or one agent's) ElevenLabs and OpenAI keys.

Company-wide: `/integrations/{provider}`. One agent's own ElevenLabs key, as the voice API
shapes it: `/v1/agents/{agent_id}/voice/integrations/elevenlabs`; an agent's key takes
precedence over its company's for its calls. Keys are checked with the provider before they
are saved, stored encrypted, and only ever shown masked (`***xyz1`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from ...providers import (
    PROVIDER_TITLES,
    KeyRejectedError,
    ProviderEndpoints,
    ProviderName,
    ProviderUnavailableError,
    VoiceListCache,
    check_key,
    is_own_voice,
)
from ...schemas.integrations import (
    IntegrationConnected,
    IntegrationStatus,
    KeyCheck,
    LibraryVoice,
    ProviderKeyIn,
    Source,
    VoiceLibrary,
)
from ...security import ProviderKeyVault, mask_key
from ...services.agents import find_agent
from ...settings import Settings
from ...store.models import utcnow
from ...store.repositories import CustomVoiceRepository, ProviderKeyRepository
from ...voices.catalog import Voice, curated_elevenlabs_voices, installed_local_voices
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import ADMIN, GuardedRoute

router = APIRouter(tags=["integrations"], route_class=GuardedRoute, dependencies=[ADMIN])

ProviderPath = Annotated[ProviderName, Path(description="`elevenlabs` or `openai`")]


def endpoints(settings: Settings) -> ProviderEndpoints:
    return ProviderEndpoints(
        elevenlabs_base_url=settings.elevenlabs_base_url,
        openai_base_url=settings.openai_base_url,
        timeout=settings.provider_timeout_seconds,
    )


def get_voice_cache(request: Request) -> VoiceListCache:
    cache = getattr(request.app.state, "voice_cache", None)
    if cache is None:
        cache = request.app.state.voice_cache = VoiceListCache()
    return cache


VoiceCacheDep = Annotated[VoiceListCache, Depends(get_voice_cache)]


async def provider_key(
    session: SessionDep,
    settings: Settings,
    vault: ProviderKeyVault,
    company_id: uuid.UUID,
    provider: ProviderName,
    agent_id: uuid.UUID | None = None,
) -> str | None:
    """The key a request for this company (and agent) uses: the agent's own, the company's,
    else the deployment's."""
    repo = ProviderKeyRepository(session)
    scopes = [agent_id, None] if agent_id is not None else [None]
    for scope in scopes:
        record = await repo.get(company_id=company_id, provider=provider, agent_id=scope)
        if record is not None:
            try:
                return vault.decrypt(record.ciphertext)
            except ValueError as exc:
                raise HTTPException(
                    409, f"{exc}; connect the {PROVIDER_TITLES[provider]} key again"
                ) from None
    deployment = getattr(settings, f"{provider}_api_key")
    return deployment.get_secret_value() if deployment is not None else None


async def _check(provider: ProviderName, key: str, settings: Settings) -> dict:
    """The account facts for a usable key; 400 `invalid_key` when the provider refuses it,
    502 when it cannot be asked."""
    try:
        return await check_key(provider, key, endpoints(settings))
    except KeyRejectedError as exc:
        raise HTTPException(400, f"invalid_key: {exc}") from None
    except ProviderUnavailableError as exc:
        raise HTTPException(
            502, f"could not validate the key with {PROVIDER_TITLES[provider]}: {exc}"
        ) from None


async def _status(
    session: SessionDep, company_id: uuid.UUID, provider: str, agent_id: uuid.UUID | None
) -> IntegrationStatus:
    record = await ProviderKeyRepository(session).get(
        company_id=company_id, provider=provider, agent_id=agent_id
    )
    if record is None:
        return IntegrationStatus(connected=False, masked_key=None)
    return IntegrationStatus(connected=True, masked_key=record.masked)


async def _connect(
    body: ProviderKeyIn,
    session: SessionDep,
    settings: Settings,
    vault: ProviderKeyVault,
    company_id: uuid.UUID,
    provider: ProviderName,
    agent_id: uuid.UUID | None,
) -> IntegrationConnected:
    user = await _check(provider, body.api_key, settings)
    await ProviderKeyRepository(session).save(
        company_id=company_id,
        provider=provider,
        agent_id=agent_id,
        ciphertext=vault.encrypt(body.api_key),
        masked=mask_key(body.api_key),
    )
    await session.commit()
    return IntegrationConnected(user=user)


async def _test(body: ProviderKeyIn, settings: Settings, provider: ProviderName) -> KeyCheck:
    try:
        await check_key(provider, body.api_key, endpoints(settings))
    except KeyRejectedError:
        return KeyCheck(valid=False)
    except ProviderUnavailableError as exc:
        raise HTTPException(
            502, f"could not validate the key with {PROVIDER_TITLES[provider]}: {exc}"
        ) from None
    return KeyCheck(valid=True)


async def _disconnect(
    session: SessionDep, company_id: uuid.UUID, provider: str, agent_id: uuid.UUID | None
) -> Response:
    await ProviderKeyRepository(session).delete(
        company_id=company_id, provider=provider, agent_id=agent_id
    )
    await session.commit()
    return Response(status_code=204)


# --- company-wide ---------------------------------------------------------------------------


@router.get("/integrations/{provider}", responses=error_responses(400, 401, 429))
async def get_company_integration(
    provider: ProviderPath, session: SessionDep, company_id: CompanyDep
) -> IntegrationStatus:
    """Whether the company has a key for the provider, and its last characters."""
    return await _status(session, company_id, provider, None)


@router.post("/integrations/{provider}", responses=error_responses(400, 401, 429, 502))
async def connect_company_integration(
    provider: ProviderPath,
    body: ProviderKeyIn,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> IntegrationConnected:
    """Check the key with the provider, then save it (encrypted) for the company's calls."""
    return await _connect(body, session, settings, vault, company_id, provider, None)


@router.post("/integrations/{provider}/test", responses=error_responses(400, 401, 429, 502))
async def test_company_integration(
    provider: ProviderPath, body: ProviderKeyIn, settings: SettingsDep, _company_id: CompanyDep
) -> KeyCheck:
    """Check a key with the provider without saving it."""
    return await _test(body, settings, provider)


@router.delete(
    "/integrations/{provider}", status_code=204, responses=error_responses(400, 401, 429)
)
async def disconnect_company_integration(
    provider: ProviderPath, session: SessionDep, company_id: CompanyDep
) -> Response:
    """Forget the company's key; calls fall back to the local engines."""
    return await _disconnect(session, company_id, provider, None)


# --- one agent's ElevenLabs key (the voice API) -------------------------------------------

AGENT_ELEVENLABS = "/v1/agents/{agent_id}/voice/integrations/elevenlabs"


@router.get(AGENT_ELEVENLABS, responses=error_responses(401, 404, 429))
async def get_agent_elevenlabs(
    agent_id: str, session: SessionDep, company_id: CompanyDep
) -> IntegrationStatus:
    """Whether the agent has its own ElevenLabs key."""
    agent = await find_agent(session, company_id, agent_id)
    return await _status(session, company_id, "elevenlabs", agent.id)


@router.post(AGENT_ELEVENLABS, responses=error_responses(400, 401, 404, 429, 502))
async def connect_agent_elevenlabs(
    agent_id: str,
    body: ProviderKeyIn,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> IntegrationConnected:
    """Validate the key against ElevenLabs' `/v1/user`, then save it on the agent."""
    agent = await find_agent(session, company_id, agent_id)
    agent.updated_at = utcnow()  # the next call reloads the agent, with its new key
    return await _connect(body, session, settings, vault, company_id, "elevenlabs", agent.id)


@router.post(AGENT_ELEVENLABS + "/test", responses=error_responses(400, 401, 404, 429, 502))
async def test_agent_elevenlabs(
    agent_id: str,
    body: ProviderKeyIn,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
) -> KeyCheck:
    """Check an ElevenLabs key without saving it."""
    await find_agent(session, company_id, agent_id)
    return await _test(body, settings, "elevenlabs")


@router.delete(AGENT_ELEVENLABS, status_code=204, responses=error_responses(401, 404, 429))
async def disconnect_agent_elevenlabs(
    agent_id: str, session: SessionDep, company_id: CompanyDep
) -> Response:
    """Remove the agent's own key (the company's key, if any, applies again)."""
    agent = await find_agent(session, company_id, agent_id)
    agent.updated_at = utcnow()
    return await _disconnect(session, company_id, "elevenlabs", agent.id)


# --- the agent's voice library ------------------------------------------------------------


@router.get(
    "/v1/agents/{agent_id}/voice/library", responses=error_responses(400, 401, 404, 429, 502)
)
async def agent_voice_library(
    agent_id: str,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    cache: VoiceCacheDep,
    company_id: CompanyDep,
    source: Annotated[Source | None, Query(description="Only voices of this origin")] = None,
) -> VoiceLibrary:
    """Voices the agent can use: installed local voices, the public ElevenLabs catalog, the
    voices the company designed (`user_designed`) and cloned (`user_trained`), and, with an
    ElevenLabs key, the key's other own voices (`user_elevenlabs`)."""
    agent = await find_agent(session, company_id, agent_id)
    entries: list[LibraryVoice] = [
        LibraryVoice(voice_id=v.voice_id, name=v.name, source="local", preview_url=None)
        for v in installed_local_voices()
    ]
    entries += [_library(v, "public") for v in curated_elevenlabs_voices()]
    made = await CustomVoiceRepository(session).list(company_id=company_id)
    entries += [
        LibraryVoice(voice_id=v.voice_id, name=v.name, source=v.source, preview_url=None)  # type: ignore[arg-type]
        for v in made
    ]
    key = await provider_key(session, settings, vault, company_id, "elevenlabs", agent.id)
    if key is not None:
        own = await live_voices(cache, key, settings)
        known = {v.voice_id for v in made}
        entries += [
            _library(v, "user_elevenlabs")
            for v in own
            if is_own_voice(v) and v.voice_id not in known
        ]
    if source is not None:
        entries = [e for e in entries if e.source == source]
    return VoiceLibrary(voices=entries, total=len(entries))


def _library(voice: Voice, source: Source) -> LibraryVoice:
    return LibraryVoice(
        voice_id=voice.voice_id, name=voice.name, source=source, preview_url=voice.preview_url
    )


async def live_voices(cache: VoiceListCache, key: str, settings: Settings) -> list[Voice]:
    """The key's ElevenLabs voices (cached); 400 for a key ElevenLabs refuses, 502 when
    ElevenLabs cannot answer."""
    try:
        return await cache.voices(key, endpoints(settings))
    except KeyRejectedError as exc:
        raise HTTPException(
            400, f"invalid_key: {exc}; reconnect the ElevenLabs integration"
        ) from None
    except ProviderUnavailableError as exc:
        raise HTTPException(502, f"could not list ElevenLabs voices: {exc}") from None
