"""Dependencies shared by the routes: database session, settings, the caller's company."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ..security import ProviderKeyVault
from ..settings import Settings
from ..store.models import ApiKey
from .guard import get_api_key, get_company_id


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


CompanyDep = Annotated[uuid.UUID, Depends(get_company_id)]
KeyDep = Annotated[ApiKey, Depends(get_api_key)]
"""The request's API key record, for routes that read its scope (`deployment_id`)."""


def get_vault(request: Request) -> ProviderKeyVault:
    """The provider-keys vault (made once per app): it seals and opens tenants' secrets."""
    vault = getattr(request.app.state, "vault", None)
    if vault is None:
        vault = request.app.state.vault = ProviderKeyVault.from_settings(request.app.state.settings)
    return vault


VaultDep = Annotated[ProviderKeyVault, Depends(get_vault)]
