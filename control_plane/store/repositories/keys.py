"""A company's keys: its API keys (only their digests stored) and its providers' keys
(stored encrypted, company-wide or one agent's own)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...security import display_prefix, generate_api_key, hash_api_key
from ..models import ApiKey, ProviderKey, utcnow


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created API key: `key` is shown once and never stored."""

    record: ApiKey
    key: str


class ApiKeyRepository:
    """API keys: issued, authenticated by their digest, revoked, listed."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(
        self,
        *,
        company_id: uuid.UUID,
        name: str = "",
        deployment_id: uuid.UUID | None = None,
        rate_limit: str | None = None,
        permissions: list[str] | None = None,
        expires_at: datetime | None = None,
        user_id: uuid.UUID | None = None,
    ) -> IssuedKey:
        """A new key of the company; with `deployment_id`, one that serves only that
        deployment's chat; `permissions` null: it may do everything."""
        key = generate_api_key()
        record = ApiKey(
            company_id=company_id,
            name=name,
            prefix=display_prefix(key),
            key_hash=hash_api_key(key),
            deployment_id=deployment_id,
            rate_limit=rate_limit,
            permissions=permissions,
            expires_at=expires_at,
            user_id=user_id,
        )
        self.session.add(record)
        await self.session.flush()
        return IssuedKey(record=record, key=key)

    async def authenticate(self, *, key: str) -> ApiKey | None:
        """The live key record for `key`, or None (unknown or revoked)."""
        record = await self.session.scalar(
            select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))
        )
        if record is None or record.revoked_at is not None:
            return None
        return record

    async def by_id(self, *, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def revoke(self, *, key_id: uuid.UUID) -> ApiKey | None:
        record = await self.session.get(ApiKey, key_id)
        if record is not None and record.revoked_at is None:
            record.revoked_at = utcnow()
            await self.session.flush()
        return record

    async def list(self, *, company_id: uuid.UUID | None = None) -> Sequence[ApiKey]:
        query = select(ApiKey).order_by(ApiKey.created_at)
        if company_id is not None:
            query = query.where(ApiKey.company_id == company_id)
        return (await self.session.scalars(query)).all()


class ProviderKeyRepository:
    """Provider API keys of a company (company-wide, or one agent's own); stored encrypted."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _scope(self, company_id: uuid.UUID, provider: str, agent_id: uuid.UUID | None):
        agent_clause = (
            ProviderKey.agent_id.is_(None) if agent_id is None else ProviderKey.agent_id == agent_id
        )
        return select(ProviderKey).where(
            ProviderKey.company_id == company_id, ProviderKey.provider == provider, agent_clause
        )

    async def get(
        self, *, company_id: uuid.UUID, provider: str, agent_id: uuid.UUID | None = None
    ) -> ProviderKey | None:
        return await self.session.scalar(self._scope(company_id, provider, agent_id))

    async def save(
        self,
        *,
        company_id: uuid.UUID,
        provider: str,
        ciphertext: str,
        masked: str,
        agent_id: uuid.UUID | None = None,
    ) -> ProviderKey:
        record = await self.get(company_id=company_id, provider=provider, agent_id=agent_id)
        now = utcnow()
        if record is None:
            record = ProviderKey(
                company_id=company_id,
                agent_id=agent_id,
                provider=provider,
                created_at=now,
            )
            self.session.add(record)
        record.ciphertext = ciphertext
        record.masked = masked
        record.updated_at = now
        await self.session.flush()
        return record

    async def delete(
        self, *, company_id: uuid.UUID, provider: str, agent_id: uuid.UUID | None = None
    ) -> bool:
        record = await self.get(company_id=company_id, provider=provider, agent_id=agent_id)
        if record is None:
            return False
        await self.session.delete(record)
        await self.session.flush()
        return True

    async def for_agent(self, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> dict[str, str]:
        """Ciphertext per provider for an agent's calls: its own key, else the company's."""
        result = await self.session.scalars(
            select(ProviderKey).where(
                ProviderKey.company_id == company_id,
                (ProviderKey.agent_id == agent_id) | ProviderKey.agent_id.is_(None),
            )
        )
        chosen: dict[str, ProviderKey] = {}
        for record in result.all():
            current = chosen.get(record.provider)
            if current is None or (current.agent_id is None and record.agent_id is not None):
                chosen[record.provider] = record
        return {provider: record.ciphertext for provider, record in chosen.items()}
