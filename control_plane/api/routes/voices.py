"""`/voice-agents/{arabic,english,multilingual}`: the voice catalog."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ...providers import KeyRejectedError, ProviderUnavailableError
from ...voices.catalog import Voice, catalog
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import GuardedRoute
from .integrations import VoiceCacheDep, endpoints, provider_key

logger = logging.getLogger("control_plane.voices")

router = APIRouter(prefix="/voice-agents", tags=["voices"], route_class=GuardedRoute)

Gender = Annotated[
    Literal["male", "female", "neutral"] | None, Query(description="Filter by gender")
]
Category = Annotated[str | None, Query(max_length=50, description="e.g. premade, local")]
Accent = Annotated[str | None, Query(max_length=50, description="e.g. american, british")]
FeaturedOnly = Annotated[bool, Query(description="Only featured voices")]
MaxVoices = Annotated[int, Query(ge=1, le=1000, description="Maximum voices to return")]


def _route(collection: Literal["arabic", "english", "multilingual"], summary: str):  # noqa: ANN202
    async def list_voices(
        session: SessionDep,
        settings: SettingsDep,
        vault: VaultDep,
        cache: VoiceCacheDep,
        company_id: CompanyDep,
        gender: Gender = None,
        category: Category = None,
        accent: Accent = None,
        featured_only: FeaturedOnly = False,
        max_voices: MaxVoices = 100,
    ) -> list[Voice]:
        extra: list[Voice] = []
        key = await provider_key(session, settings, vault, company_id, "elevenlabs")
        if key is not None:
            try:
                extra = await cache.voices(key, endpoints(settings))
            except (KeyRejectedError, ProviderUnavailableError) as exc:
                # The catalog still answers; the company's own voices are missing this time.
                logger.warning("ElevenLabs voices not listed: %s", exc)
        return catalog(
            collection,
            extra=extra,
            gender=gender,
            category=category,
            accent=accent,
            featured_only=featured_only,
            max_voices=max_voices,
        )

    list_voices.__doc__ = summary
    router.add_api_route(
        f"/{collection}",
        list_voices,
        methods=["GET"],
        name=f"list_{collection}_voices",
        summary=summary,
        responses=error_responses(400, 401, 429),
    )


_route(
    "arabic",
    "Voices that speak Arabic: installed local voices, the company's own ElevenLabs voices "
    "(with a connected key) and curated ElevenLabs ones",
)
_route(
    "english",
    "Voices that speak English: installed local voices, the company's own ElevenLabs voices "
    "(with a connected key) and curated ElevenLabs ones",
)
_route("multilingual", "Voices that speak both Arabic and English")
