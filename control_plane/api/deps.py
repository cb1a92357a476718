"""Dependencies shared by the routes: database session, settings, the caller's company."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncSession

from shared.egress import EgressRefusedError

from ..settings import Settings
from .guard import AUTH_STATE

api_key_header = APIKeyHeader(
    name="x-api-key", auto_error=False, description="The company's API key"
)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_company_id(
    request: Request,
    _api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> uuid.UUID:
    """The company of the request's API key, checked (and rate limited) before the body was
    read (`guard.GuardedRoute`)."""
    record = getattr(request.state, AUTH_STATE, None)
    if record is None:  # a route that is not a GuardedRoute: checked now
        record = await request.app.state.guard.authenticate(request)
    return record.company_id


CompanyDep = Annotated[uuid.UUID, Depends(get_company_id)]


async def check_tenant_url(settings: Settings, field: str, url: str) -> None:
    """400 naming the rule when the egress policy refuses a URL a tenant gives."""
    try:
        await settings.egress_policy().check_url(url)
    except EgressRefusedError as exc:
        raise HTTPException(400, f"{field}: {exc}") from None
