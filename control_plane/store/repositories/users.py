"""A company's console users, and their signed-in sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...security import hash_token
from ..models import ConsoleSession, User, utcnow


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **values: object) -> User:
        row = User(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def by_email(self, email: str) -> User | None:
        """Any company's user (signing in names no company: the user's says which)."""
        return await self.session.scalar(select(User).where(User.email == email.strip().lower()))

    async def get(self, *, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def list(self, *, company_id: uuid.UUID) -> Sequence[User]:
        rows = await self.session.scalars(
            select(User).where(User.company_id == company_id).order_by(User.created_at)
        )
        return rows.all()


class ConsoleSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open(
        self, *, user_id: uuid.UUID, token: str, csrf_token: str, expires_at: datetime
    ) -> ConsoleSession:
        row = ConsoleSession(
            user_id=user_id,
            token_hash=hash_token(token),
            csrf_token=csrf_token,
            expires_at=expires_at,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def by_token(self, token: str) -> tuple[ConsoleSession, User] | None:
        """The session a cookie's token opens, expired or not, with its user."""
        row = await self.session.execute(
            select(ConsoleSession, User)
            .join(User, User.id == ConsoleSession.user_id)
            .where(ConsoleSession.token_hash == hash_token(token))
        )
        found = row.first()
        return None if found is None else (found[0], found[1])

    async def close(self, row: ConsoleSession) -> None:
        await self.session.delete(row)

    async def close_expired(self) -> int:
        result = await self.session.execute(
            delete(ConsoleSession).where(ConsoleSession.expires_at <= utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)
