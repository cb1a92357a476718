"""Data access. Every query that reads or writes a company's rows takes `company_id`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..security import display_prefix, generate_api_key, hash_api_key
from .models import (
    ApiKey,
    Company,
    Conversation,
    ConversationMessage,
    ProviderKey,
    VoiceAgent,
    utcnow,
)


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created API key: `key` is shown once and never stored."""

    record: ApiKey
    key: str


class CompanyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, name: str) -> Company:
        company = Company(name=name)
        self.session.add(company)
        await self.session.flush()
        return company

    async def get(self, *, company_id: uuid.UUID) -> Company | None:
        return await self.session.get(Company, company_id)

    async def list(self) -> Sequence[Company]:
        result = await self.session.scalars(select(Company).order_by(Company.created_at))
        return result.all()


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(self, *, company_id: uuid.UUID, name: str = "") -> IssuedKey:
        key = generate_api_key()
        record = ApiKey(
            company_id=company_id, name=name, prefix=display_prefix(key), key_hash=hash_api_key(key)
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


class VoiceAgentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, *, company_id: uuid.UUID) -> Sequence[VoiceAgent]:
        result = await self.session.scalars(
            select(VoiceAgent)
            .where(VoiceAgent.company_id == company_id)
            .order_by(VoiceAgent.created_at, VoiceAgent.id)
        )
        return result.all()

    async def count(self, *, company_id: uuid.UUID) -> int:
        query = select(func.count()).select_from(VoiceAgent)
        return await self.session.scalar(query.where(VoiceAgent.company_id == company_id)) or 0

    async def get(self, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> VoiceAgent | None:
        return await self.session.scalar(
            select(VoiceAgent).where(VoiceAgent.id == agent_id, VoiceAgent.company_id == company_id)
        )

    async def get_for_call(self, *, agent_id: uuid.UUID) -> VoiceAgent | None:
        """The agent a dispatched call names (the worker is trusted across companies)."""
        return await self.session.get(VoiceAgent, agent_id)

    async def create(self, *, company_id: uuid.UUID, values: dict[str, Any]) -> VoiceAgent:
        now = utcnow()
        agent = VoiceAgent(company_id=company_id, created_at=now, updated_at=now, **values)
        self.session.add(agent)
        await self.session.flush()
        return agent

    async def update(self, *, agent: VoiceAgent, changes: dict[str, Any]) -> VoiceAgent:
        for field, value in changes.items():
            setattr(agent, field, value)
        if changes:
            agent.updated_at = utcnow()
        await self.session.flush()
        return agent

    async def delete(self, *, agent: VoiceAgent) -> None:
        await self.session.delete(agent)
        await self.session.flush()


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


class ConversationRepository:
    """A company's calls and their transcripts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **values: Any) -> Conversation:
        conversation = Conversation(created_at=utcnow(), metrics={}, **values)
        self.session.add(conversation)
        await self.session.flush()
        return conversation

    async def get(self, *, company_id: uuid.UUID, conversation_id: str) -> Conversation | None:
        return await self.session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.company_id == company_id
            )
        )

    async def list(
        self,
        *,
        company_id: uuid.UUID,
        agent_id: uuid.UUID | None = None,
        status: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[Sequence[Conversation], int]:
        """One page of the company's conversations, newest first, and how many match."""
        query = select(Conversation).where(Conversation.company_id == company_id)
        if agent_id is not None:
            query = query.where(Conversation.agent_id == agent_id)
        if status is not None:
            query = query.where(Conversation.status == status)
        if date_from is not None:
            query = query.where(Conversation.created_at >= date_from)
        if date_to is not None:
            query = query.where(Conversation.created_at <= date_to)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(
            query.order_by(Conversation.created_at.desc(), Conversation.id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all(), int(total or 0)

    async def for_agent(
        self,
        *,
        company_id: uuid.UUID,
        agent_id: uuid.UUID,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> Sequence[Conversation]:
        """Every call of one agent in a period, oldest first."""
        query = select(Conversation).where(
            Conversation.company_id == company_id, Conversation.agent_id == agent_id
        )
        if date_from is not None:
            query = query.where(Conversation.created_at >= date_from)
        if date_to is not None:
            query = query.where(Conversation.created_at <= date_to)
        return (await self.session.scalars(query.order_by(Conversation.created_at))).all()

    async def messages(self, *, conversation_id: str) -> Sequence[ConversationMessage]:
        result = await self.session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id)
            .order_by(ConversationMessage.created_at, ConversationMessage.id)
        )
        return result.all()

    async def delete(self, *, conversation: Conversation) -> None:
        await self.session.delete(conversation)
        await self.session.flush()
