"""Who is signed in to the console: a session cookie (a random token; only its digest is
stored), its CSRF token (every form carries it back; a form posted from another site cannot),
and the pages' answer to a missing or expired session (back to sign-in, saying why).

The cookie is `HttpOnly` (page scripts cannot read it), `SameSite=Lax` (not sent with another
site's form posts) and `Secure` when the console is served over HTTPS.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ...security import ROLE_PERMISSIONS, new_token
from ...store.models import ConsoleSession, User, utcnow
from ...store.repositories import ConsoleSessionRepository

COOKIE = "console_session"
SIGN_IN_CSRF_COOKIE = "console_sign_in"
"""Before a session exists, the sign-in form's CSRF token is checked against this cookie
(the double-submit pattern)."""
PATH = "/console"


@dataclass(frozen=True)
class Visitor:
    """A signed-in user, on one request."""

    user: User
    session: ConsoleSession

    @property
    def company_id(self) -> uuid.UUID:
        return self.user.company_id

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def may(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.user.role, ())


class SignInNeeded(Exception):
    """No session, or it expired: the page sends the browser to sign in (and back after)."""

    def __init__(self, back_to: str, reason: str = "") -> None:
        super().__init__(reason)
        self.back_to = back_to
        self.reason = reason

    def location(self) -> str:
        where = f"{PATH}/sign-in?next={quote(self.back_to, safe='')}"
        return where + (f"&reason={self.reason}" if self.reason else "")


class CsrfRefused(Exception):
    """A form without its session's CSRF token (forged, or from a page of an older session)."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def open_session(
    db: AsyncSession, request: Request, response: Response, user: User, hours: float
) -> None:
    token = new_token()
    await ConsoleSessionRepository(db).open(
        user_id=user.id,
        token=token,
        csrf_token=new_token(),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(hours * 3600),
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path=PATH)


async def visitor(db: AsyncSession, request: Request) -> Visitor:
    """The request's signed-in user; `SignInNeeded` without a live session."""
    back_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    token = request.cookies.get(COOKIE)
    found = await ConsoleSessionRepository(db).by_token(token) if token else None
    if found is None:
        raise SignInNeeded(back_to)
    row, user = found
    if row.expires_at <= utcnow():
        await ConsoleSessionRepository(db).close(row)
        await db.commit()
        raise SignInNeeded(back_to, "expired")
    return Visitor(user=user, session=row)


async def close_session(db: AsyncSession, request: Request, response: Response) -> None:
    token = request.cookies.get(COOKIE)
    found = await ConsoleSessionRepository(db).by_token(token) if token else None
    if found is not None:
        await ConsoleSessionRepository(db).close(found[0])
    response.delete_cookie(COOKIE, path=PATH)


def check_csrf(expected: str | None, given: str | None) -> None:
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise CsrfRefused()


def sign_in_csrf(request: Request) -> str:
    """The sign-in form's token: the browser's cookie's, or a new one (set by the page)."""
    return request.cookies.get(SIGN_IN_CSRF_COOKIE) or new_token()


def keep_sign_in_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SIGN_IN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
