"""Command-line administration: companies and API keys (the API itself needs a key)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from limits import parse_many
from sqlalchemy.ext.asyncio import AsyncSession

from .jobs.retention import purge
from .security import ROLE_PERMISSIONS
from .services import users
from .services.refusal import Refused
from .settings import Settings, StoreSettings
from .store.db import create_engine, session_factory
from .store.migrate import upgrade
from .store.repositories import ApiKeyRepository, CompanyRepository, UserRepository


class AdminError(Exception):
    """A refused admin command; the message is printed as one line."""


async def _with_session(action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    engine = create_engine(StoreSettings().resolved_database_url())
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            result = await action(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise AdminError(f"{what} {value!r} is not a UUID") from None


def _rate_limit(value: str | None) -> str | None:
    """A tier of `RATE_LIMIT_TIERS` or a limit in `limits` notation (`2000/minute`)."""
    if value is None:
        return None
    tiers = Settings().rate_limit_tiers
    if value in tiers:
        return value
    try:
        parse_many(value)
    except ValueError:
        raise AdminError(
            f"rate limit {value!r} is neither a tier ({', '.join(sorted(tiers))}) nor a limit "
            "like 2000/minute"
        ) from None
    return value


async def create_company(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    rate_limit = _rate_limit(args.rate_limit)
    company = await CompanyRepository(session).create(name=args.name)
    result: dict[str, Any] = {"company_id": str(company.id), "name": company.name}
    if args.with_key:
        issued = await ApiKeyRepository(session).issue(
            company_id=company.id, name="default", rate_limit=rate_limit
        )
        result |= {"key_id": str(issued.record.id), "api_key": issued.key}
    return result


async def create_key(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    company_id = _uuid(args.company_id, "company")
    if await CompanyRepository(session).get(company_id=company_id) is None:
        raise AdminError(f"no company {company_id}")
    issued = await ApiKeyRepository(session).issue(
        company_id=company_id, name=args.name, rate_limit=_rate_limit(args.rate_limit)
    )
    return {
        "key_id": str(issued.record.id),
        "company_id": str(company_id),
        "api_key": issued.key,
        "rate_limit": issued.record.rate_limit,
    }


async def set_rate_limit(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    rate_limit = _rate_limit(args.rate_limit or None)
    record = await ApiKeyRepository(session).by_id(key_id=_uuid(args.key_id, "key"))
    if record is None:
        raise AdminError(f"no API key {args.key_id}")
    record.rate_limit = rate_limit
    return {"key_id": str(record.id), "rate_limit": rate_limit}


async def revoke_key(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    record = await ApiKeyRepository(session).revoke(key_id=_uuid(args.key_id, "key"))
    if record is None:
        raise AdminError(f"no API key {args.key_id}")
    revoked_at = record.revoked_at
    assert revoked_at is not None  # set by revoke(), or when the key was revoked before
    return {"key_id": str(record.id), "revoked_at": revoked_at.isoformat()}


async def list_keys(session: AsyncSession, args: argparse.Namespace) -> list[dict[str, Any]]:
    company_id = _uuid(args.company_id, "company") if args.company_id else None
    return [
        {
            "key_id": str(k.id),
            "company_id": str(k.company_id),
            "name": k.name,
            "prefix": k.prefix,
            "rate_limit": k.rate_limit,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in await ApiKeyRepository(session).list(company_id=company_id)
    ]


async def list_companies(session: AsyncSession, _args: argparse.Namespace) -> list[dict[str, Any]]:
    return [
        {"company_id": str(c.id), "name": c.name, "created_at": c.created_at.isoformat()}
        for c in await CompanyRepository(session).list()
    ]


def _read_password() -> str:
    """The new user's password: asked twice at a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise AdminError("the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\n")


async def create_user(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    company_id = _uuid(args.company_id, "company")
    if await CompanyRepository(session).get(company_id=company_id) is None:
        raise AdminError(f"no company {company_id}")
    try:
        user = await users.create_user(
            session,
            company_id=company_id,
            email=args.email,
            password=_read_password(),
            name=args.name,
            role=args.role,
        )
    except Refused as exc:
        raise AdminError(exc.message) from None
    return {
        "user_id": str(user.id),
        "company_id": str(company_id),
        "email": user.email,
        "role": user.role,
    }


async def list_users(session: AsyncSession, args: argparse.Namespace) -> list[dict[str, Any]]:
    company_id = _uuid(args.company_id, "company")
    return [
        {"user_id": str(u.id), "email": u.email, "name": u.name, "role": u.role}
        for u in await UserRepository(session).list(company_id=company_id)
    ]


async def purge_now(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    purged = await purge(
        session, settings.recording_store(), webhook_log_days=settings.webhook_log_days
    )
    return asdict(purged)


RATE_LIMIT_HELP = "a tier (standard, pro: RATE_LIMIT_TIERS) or a limit like 2000/minute"


def add_admin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("create-company", help="create a company (and its first API key)")
    p.add_argument("name")
    p.add_argument("--no-key", dest="with_key", action="store_false", help="issue no API key")
    p.add_argument("--rate-limit", default=None, help=RATE_LIMIT_HELP)
    p.set_defaults(action=create_company)
    p = commands.add_parser("create-key", help="issue an API key (shown once)")
    p.add_argument("company_id")
    p.add_argument("--name", default="", help="a label for the key")
    p.add_argument("--rate-limit", default=None, help=RATE_LIMIT_HELP)
    p.set_defaults(action=create_key)
    p = commands.add_parser("set-rate-limit", help="change an API key's rate limit")
    p.add_argument("key_id")
    p.add_argument("rate_limit", help=RATE_LIMIT_HELP + "; empty: the default")
    p.set_defaults(action=set_rate_limit)
    p = commands.add_parser("revoke-key", help="revoke an API key by its key_id")
    p.add_argument("key_id")
    p.set_defaults(action=revoke_key)
    p = commands.add_parser("list-keys", help="list API keys (prefixes only)")
    p.add_argument("--company-id", default=None)
    p.set_defaults(action=list_keys)
    p = commands.add_parser(
        "create-user",
        help="add a web console user (password asked, or read from stdin's first line)",
    )
    p.add_argument("company_id")
    p.add_argument("email")
    p.add_argument("--name", default="")
    p.add_argument("--role", default="admin", choices=sorted(ROLE_PERMISSIONS))
    p.set_defaults(action=create_user)
    p = commands.add_parser("list-users", help="list a company's console users")
    p.add_argument("company_id")
    p.set_defaults(action=list_users)
    p = commands.add_parser("list-companies", help="list companies")
    p.set_defaults(action=list_companies)
    p = commands.add_parser(
        "purge", help="delete calls older than their agent's retention_days, now"
    )
    p.set_defaults(action=purge_now)


def run_admin(args: argparse.Namespace) -> int:
    """Run an admin command; prints its result as JSON."""
    try:
        result = asyncio.run(_with_session(lambda session: args.action(session, args)))
    except AdminError as exc:
        print(f"error: {exc}")
        return 2
    print(json.dumps(result, indent=2))
    return 0
