"""What every request passes before its route reads the body: size limits, then the API key.

Routes are `GuardedRoute`s: FastAPI reads and parses a request's body before it resolves the
route's dependencies, so a key checked by a dependency is checked too late (an unauthenticated
29 MB JSON body was parsed on the event loop before its 401, stalling every other request).
The guarded route refuses a body larger than its limit from its `Content-Length` (or once a
streamed body passes it), and authenticates and rate limits the key, before the body is read.

The key record found here reaches the route's `CompanyDep` through the request state, so the
key is looked up once.
"""

from __future__ import annotations

import logging
import types
import typing
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, Security
from fastapi.dependencies.models import Dependant
from fastapi.params import File
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.types import Message, Receive

from ..schemas.envelope import ErrorEnvelope
from ..schemas.errors import ChatErrorResponse, ErrorResponse
from ..security import PERMISSIONS, key_may
from ..store.models import ApiKey, utcnow
from ..store.repositories import ApiKeyRepository, DeploymentRepository
from .errors import error_responses
from .ratelimit import Counters, RateLimiter

logger = logging.getLogger("control_plane.guard")

AUTH_STATE = "api_key_record"
"""Where the authenticated key record is left in the request state."""
API_KEY_HEADER = "x-api-key"
API_TOKEN_HEADER = "x-api-token"
"""The chat API's name for the same key."""


@dataclass(frozen=True)
class GuardSettings:
    max_body_bytes: int
    """JSON and form bodies."""
    max_upload_bytes: int
    """Bodies of routes that take a file (the file's own limit is checked by the route)."""
    rate_limit: str
    """Requests per API key."""
    auth_failure_limit: str
    """Failed authentications per client address."""
    sign_in_failure_limit: str = "5/minute;20/hour"
    """Wrong passwords per email."""
    redis_url: str = ""
    """Where the limits are counted, shared by every control plane (`ratelimit`); empty:
    in this process's memory."""
    route_limits: Mapping[str, str] = field(default_factory=dict)
    """Routes' own limits per API key, by the name their `RouteLimit` gives."""
    rate_limit_tiers: Mapping[str, str] = field(default_factory=dict)
    """Named limits keys may have instead of `rate_limit`."""


class RequestGuard:
    """The limits and the authentication of every request, kept on `app.state.guard`."""

    def __init__(self, settings: GuardSettings) -> None:
        self.settings = settings
        self.counters = Counters(settings.redis_url)
        self.requests = RateLimiter(settings.rate_limit, self.counters)
        self.failures = RateLimiter(settings.auth_failure_limit, self.counters)
        self.wrong_passwords = RateLimiter(settings.sign_in_failure_limit, self.counters)
        self.route_limiters = {
            name: RateLimiter(limit, self.counters) for name, limit in settings.route_limits.items()
        }
        self._key_limiters: dict[str, RateLimiter] = {}

    async def may_try_password(self, request: Request, email: str) -> float | None:
        """Seconds until a sign-in for `email` from the request's address may be tried, or
        None: it may now. Wrong passwords count per email (`sign_in_failure_limit`: someone
        guessing one account's password) and per address with the other failed
        authentications (`auth_failure_limit`: someone trying many accounts)."""
        waits = [
            await self.wrong_passwords.blocked(_password_key(email)),
            await self.failures.blocked(_client(request)),
        ]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    async def wrong_password(self, request: Request, email: str) -> None:
        await self.wrong_passwords.hit(_password_key(email))
        await self.failures.hit(_client(request))

    def key_limit(self, record: ApiKey) -> str:
        """The requests `record` may make: its tier's, its own, or the default limit."""
        own = record.rate_limit
        if not own:
            return self.settings.rate_limit
        return self.settings.rate_limit_tiers.get(own, own)

    def _limiter(self, record: ApiKey) -> RateLimiter:
        limit = self.key_limit(record)
        if limit == self.settings.rate_limit:
            return self.requests
        limiter = self._key_limiters.get(limit)
        if limiter is None:
            try:
                limiter = self._key_limiters[limit] = RateLimiter(limit, self.counters)
            except ValueError:  # a tier removed from the settings since the key was given it
                logger.warning(
                    "API key %s: unknown rate limit %r; the default applies", record.id, limit
                )
                return self.requests
        return limiter

    def body_limit(self, *, takes_file: bool) -> int:
        return self.settings.max_upload_bytes if takes_file else self.settings.max_body_bytes

    async def authenticate(
        self,
        request: Request,
        *,
        scoped_ok: bool = False,
        limits: Iterable[str] = (),
        needs: str | None = None,
    ) -> ApiKey:
        """The request's live key record, also left in the request state; 401 without a valid
        key or with an expired one, 403 when the key lacks the permission the route `needs`
        (by default what the method does: `method_permission`), 429 over the key's rate (or a
        route's own `limits`) or after too many failures from the client's address. A key
        scoped to a deployment serves only routes that take one (`scoped_ok`), and not once
        its deployment is revoked."""
        client = _client(request)
        wait = await self.failures.blocked(client)
        if wait is not None:
            raise _refusal(429, f"Too many failed authentications; retry in {int(wait)} s", wait)
        key = request_key(request)
        if not key:
            await self.failures.hit(client)
            raise _refusal(
                401,
                "Missing API key: send it in the x-api-key header or as Authorization: Bearer",
            )
        async with request.app.state.sessions() as session:
            record = await ApiKeyRepository(session).authenticate(key=key)
            if record is not None and record.deployment_id is not None:
                deployment = await DeploymentRepository(session).by_id(record.deployment_id)
                if deployment is None or deployment.revoked_at is not None:
                    raise _refusal(401, "This API key's deployment was revoked")
                if not scoped_ok:
                    raise _refusal(
                        403, "This API key is scoped to a deployment: it serves its chat only"
                    )
        if record is None:
            await self.failures.hit(client)
            raise _refusal(401, "Invalid API key")
        if record.expires_at is not None and record.expires_at <= utcnow():
            raise _refusal(
                401,
                f"This API key expired at {record.expires_at:%Y-%m-%dT%H:%M:%SZ}: take a new one "
                "(POST /v1/api/get-api-key)",
            )
        needs = needs or method_permission(request.method)
        if not key_may(record.permissions, needs):
            raise _refusal(403, f"This API key lacks the `{needs}` permission this request needs")
        wait = await self._limiter(record).hit(str(record.id))
        for name in limits:
            wait = wait or await self.route_limiters[name].hit(f"{name}:{record.id}")
        if wait is not None:
            raise _refusal(429, f"Rate limit exceeded; retry in {int(wait)} s", wait)
        setattr(request.state, AUTH_STATE, record)
        return record


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _password_key(email: str) -> str:
    return f"password-for:{email.strip().lower()}"


def method_permission(method: str) -> str:
    """The permission a request of `method` needs unless its route says (`Needs`)."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    return "delete" if method == "DELETE" else "write"


class Needs:
    """A route's (or a router's) dependency naming the permission its keys need instead of
    the method's (`admin` for provider credentials and webhooks; `read` for a POST that
    changes nothing); read by the guard before the body."""

    def __init__(self, permission: str) -> None:
        assert permission in PERMISSIONS, permission
        self.permission = permission

    async def __call__(self) -> None:
        return None


ADMIN = Depends(Needs("admin"))
"""In a route's (or router's) `dependencies`: its keys need the `admin` permission."""


def request_key(request: Request) -> str | None:
    """The API key a request carries: `x-api-key` or `x-api-token`, else `Authorization:
    Bearer <key>`."""
    key = request.headers.get(API_KEY_HEADER) or request.headers.get(API_TOKEN_HEADER)
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


class GuardedRoute(APIRoute):
    """A route whose request passes `RequestGuard` before FastAPI reads its body. Each reads
    the store (the key, at least), so each may answer 503 while the database is out of reach:
    the OpenAPI document says so."""

    error_model: type[BaseModel] = ErrorResponse
    scoped_keys = False
    """Whether keys scoped to a deployment may call it."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        responses = {
            **error_responses(503, model=self.error_model),
            **(kwargs.pop("responses", None) or {}),
        }
        super().__init__(path, endpoint, responses=responses, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        needs_key = _needs_key(self.dependant)
        takes_file = any(isinstance(p.field_info, File) for p in _body_params(self.dependant))
        limits = [
            d.call.name for d in _dependencies(self.dependant) if isinstance(d.call, RouteLimit)
        ]
        single = [p.alias for p in _query_params(self.dependant) if not _takes_many(p.field_info)]
        needs = next(
            (d.call.permission for d in _dependencies(self.dependant) if isinstance(d.call, Needs)),
            None,
        )

        async def guarded(request: Request) -> Response:
            guard: RequestGuard = request.app.state.guard
            limit = guard.body_limit(takes_file=takes_file)
            length = request.headers.get("content-length")
            if length is not None and not length.isdigit():
                raise _refusal(400, "invalid Content-Length header")
            if length is not None and int(length) > limit:
                raise _refusal(413, _too_large(limit))
            if needs_key:
                await guard.authenticate(
                    request, scoped_ok=self.scoped_keys, limits=limits, needs=needs
                )
            for name in single:  # taken as its last value otherwise, silently
                if len(request.query_params.getlist(name)) > 1:
                    raise _refusal(400, f"{name}: give it once")
            limited = Request(request.scope, _limited(request.receive, limit), request._send)
            return await handler(limited)

        return guarded


class SeedRoute(GuardedRoute):
    """A `GuardedRoute` of the seed-001 surface: its errors come in that surface's envelope."""

    error_model = ErrorEnvelope


class ChatRoute(GuardedRoute):
    """A `GuardedRoute` of the chat API: its errors come in that API's shape, and keys scoped
    to a deployment may call it (the route checks that the deployment is theirs)."""

    error_model = ChatErrorResponse
    scoped_keys = True


class RouteLimit:
    """A route's own rate limit per API key, beside the key's overall one: a dependency naming
    the limit (`GuardSettings.route_limits`), counted by the guard before the body is read."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self) -> None:
        return None


api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="The company's API key"
)


api_token_header = APIKeyHeader(
    name=API_TOKEN_HEADER,
    scheme_name="APIToken",
    auto_error=False,
    description="The company's API key (the chat API's name for it)",
)


bearer = HTTPBearer(auto_error=False, description="The company's API key, as a Bearer token")


async def get_company_id(
    request: Request,
    _api_key: Annotated[str | None, Security(api_key_header)] = None,
    _api_token: Annotated[str | None, Security(api_token_header)] = None,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> uuid.UUID:
    """The company of the request's API key (the routes' `CompanyDep`), checked and rate
    limited before the body was read when the route is a `GuardedRoute`."""
    record = getattr(request.state, AUTH_STATE, None)
    if record is None:  # a route that is not a GuardedRoute: checked now
        record = await request.app.state.guard.authenticate(request)
    return record.company_id


async def get_api_key(
    request: Request, _company_id: Annotated[uuid.UUID, Depends(get_company_id)]
) -> ApiKey:
    """The request's key record (the routes' `KeyDep`), for routes that read its scope."""
    return getattr(request.state, AUTH_STATE)


def _needs_key(dependant: Dependant) -> bool:
    return dependant.call is get_company_id or any(_needs_key(d) for d in dependant.dependencies)


def _query_params(dependant: Dependant) -> Iterable[Any]:
    for d in (dependant, *_dependencies(dependant)):
        yield from d.query_params


def _takes_many(field_info: Any) -> bool:
    """Whether a query parameter is a list (given once per value)."""
    annotation = field_info.annotation
    options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    return any(typing.get_origin(o) in (list, set, tuple, frozenset) for o in options)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _dependencies(dependant: Dependant) -> Iterable[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _body_params(dependant: Dependant) -> Iterable[Any]:
    for d in (dependant, *_dependencies(dependant)):
        yield from d.body_params


def _refusal(status: int, detail: str, retry_after: float | None = None) -> HTTPException:
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return HTTPException(status, detail, headers=headers)


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` that stops a body (streamed without a length, or longer than declared) once
    it passes `limit`: the route answers 413."""
    seen = 0

    async def guarded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, _too_large(limit))
        return message

    return guarded
