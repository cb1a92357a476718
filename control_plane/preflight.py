"""What `serve` checks before it listens: the database, and Redis when `REDIS_URL` is set,
answer. A failure is one line naming the dependency, where it was looked for and the fix."""

from __future__ import annotations

from .api.ratelimit import RedisUnavailableError, ping_redis
from .settings import Settings
from .store.db import create_engine, ping
from .store.outage import StoreUnavailableError, safe_url


class StartupError(Exception):
    """A dependency the control plane needs does not answer; the message says what to do."""


async def check_dependencies(settings: Settings) -> None:
    """`StartupError` when the database or Redis does not answer."""
    url = settings.resolved_database_url()
    try:
        engine = create_engine(url)
    except OSError as exc:  # the SQLite file's directory cannot be made
        raise StartupError(f"the database at {url} cannot be created: {exc}") from None
    try:
        await ping(engine)
    except StoreUnavailableError as exc:
        raise StartupError(
            f"the database at {safe_url(url)} is unreachable: {exc.reason}; start it or fix "
            "DATABASE_URL"
        ) from None
    finally:
        await engine.dispose()
    if settings.redis_url:
        try:
            await ping_redis(settings.redis_url)
        except RedisUnavailableError as exc:
            raise StartupError(
                f"Redis at {safe_url(settings.redis_url)} is unreachable: {exc.reason}; start "
                "it or fix REDIS_URL (without REDIS_URL each control plane counts rate limits "
                "in its own memory)"
            ) from None
