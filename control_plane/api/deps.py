"""Dependencies shared by the routes: database session, settings, the caller's company."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncSession

from ..settings import Settings
from ..store.repositories import ApiKeyRepository

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
    session: SessionDep,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> uuid.UUID:
    """The company of the request's API key; 401 without a valid key, 429 over the limit."""
    if not api_key:
        raise HTTPException(401, "Missing API key: send it in the x-api-key header")
    record = await ApiKeyRepository(session).authenticate(key=api_key)
    if record is None:
        raise HTTPException(401, "Invalid API key")
    retry_after = request.app.state.rate_limiter.hit(str(record.id))
    if retry_after is not None:
        raise HTTPException(
            429,
            f"Rate limit exceeded; retry in {int(retry_after)} s",
            headers={"Retry-After": str(int(retry_after))},
        )
    return record.company_id


CompanyDep = Annotated[uuid.UUID, Depends(get_company_id)]
