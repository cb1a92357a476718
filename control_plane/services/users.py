"""Console users: created by the admin commands, signed in with their password (the web
console, seed 001's `POST /v1/api/get-api-key`), and the keys they take.

A wrong email and a wrong password are refused alike, in the same time, and failures are
rate limited per address and per email (`RequestGuard.failures`): the answer never says which
part was wrong.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from ..security import ROLE_PERMISSIONS, check_password, hash_password
from ..store.models import User, utcnow
from ..store.repositories import ApiKeyRepository, IssuedKey, UserRepository
from .refusal import Refused

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 12
"""Shortest password accepted (NIST SP 800-63B asks for at least 8; 12 for an admin's)."""
MAX_PASSWORD = 256
KEY_DAYS = 90
"""How long a key taken with a password lives unless the request says otherwise."""
MAX_KEY_DAYS = 365
WRONG_CREDENTIALS = "Email or password is incorrect"


def normal_email(email: str, field: str = "email") -> str:
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise Refused(400, f"{field}: an email address, like ada@example.com", field=field)
    return email


def check_new_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Refused(
            400,
            f"{field}: between {MIN_PASSWORD} and {MAX_PASSWORD} characters",
            field=field,
        )


async def create_user(
    session: AsyncSession,
    *,
    company_id: uuid.UUID,
    email: str,
    password: str,
    name: str = "",
    role: str = "admin",
) -> User:
    email = normal_email(email)
    check_new_password(password)
    if role not in ROLE_PERMISSIONS:
        raise Refused(400, f"role: one of {', '.join(ROLE_PERMISSIONS)}", field="role")
    users = UserRepository(session)
    if await users.by_email(email) is not None:
        raise Refused(409, f"email: {email} already has an account", field="email")
    password_hash = await run_in_threadpool(hash_password, password)
    return await users.create(
        company_id=company_id, email=email, name=name, password_hash=password_hash, role=role
    )


async def check_credentials(session: AsyncSession, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None (either is wrong: which one is
    not said). The hash is checked off the event loop (~0.1 s of CPU)."""
    user = await UserRepository(session).by_email(email)
    right = await run_in_threadpool(
        check_password, user.password_hash if user else None, password[:MAX_PASSWORD]
    )
    if not right or user is None:
        return None
    user.last_sign_in_at = utcnow()
    return user


@dataclass(frozen=True)
class UserKey:
    issued: IssuedKey
    permissions: list[str]


async def issue_user_key(
    session: AsyncSession,
    user: User,
    *,
    permissions: list[str] | None = None,
    days: int = KEY_DAYS,
    name: str = "",
) -> UserKey:
    """A key of the user's company that expires after `days`, with `permissions` (at most
    what the user's role may do; by default all of it)."""
    allowed = list(ROLE_PERMISSIONS[user.role])
    wanted = allowed if permissions is None else permissions
    beyond = sorted(set(wanted) - set(allowed))
    if beyond:
        raise Refused(
            403,
            f"permissions: a {user.role} may not give a key {', '.join(beyond)}",
            field="permissions",
        )
    if not 1 <= days <= MAX_KEY_DAYS:
        raise Refused(400, f"expires_in_days: from 1 to {MAX_KEY_DAYS}", field="expires_in_days")
    kept = [p for p in allowed if p in wanted]
    issued = await ApiKeyRepository(session).issue(
        company_id=user.company_id,
        name=name or f"{user.email} ({utcnow():%Y-%m-%d})",
        permissions=kept,
        expires_at=utcnow() + timedelta(days=days),
        user_id=user.id,
    )
    return UserKey(issued=issued, permissions=kept)
