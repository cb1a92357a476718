"""The database gone: how it is recognised, said and logged.

A store that cannot be reached is not a bug of the request or job that met it: the API
answers 503 (`StoreUnavailableError`'s message, "retry later"), background jobs and the
worker's recorder wait for it, and each says so once per outage rather than once per try
(`OutageLog`). SQLAlchemy's pool replaces dead connections by itself (`pool_pre_ping`, and
connections found broken are invalidated), so nothing needs restarting when it returns.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class StoreUnavailableError(Exception):
    """The database could not be reached (raised by the engine's connect, see `store.db`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database is unreachable: {reason}; retry later")
        self.reason = reason


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database is out of reach (not a bad query): it refused or
    dropped the connection, or no pooled connection came free in time."""
    if isinstance(exc, StoreUnavailableError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def describe(exc: BaseException) -> str:
    """A one-line reason for an outage, for logs and 503s (no traceback, no SQL)."""
    if isinstance(exc, StoreUnavailableError):
        return exc.reason
    if isinstance(exc, DBAPIError):
        exc = exc.orig or exc
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def unavailable(exc: BaseException) -> StoreUnavailableError:
    """`exc`, an outage, as the error the API answers with."""
    return exc if isinstance(exc, StoreUnavailableError) else StoreUnavailableError(describe(exc))


def safe_url(url: str) -> str:
    """`url` without its password, to name the database in messages."""
    return make_url(url).render_as_string(hide_password=True)


class OutageLog:
    """Says once that the database is gone, and once that it is back, however many tries
    fail in between (a dispatcher polling twice a second would otherwise log each one)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        """A try failed: log it if it is the first failure of an outage, or not an outage."""
        if not is_outage(exc):  # described without its SQL parameters (personal data)
            self.logger.warning("%s failed: %s", self.what, describe(exc))
            return
        if not self.down:
            self.logger.warning(
                "%s: the database is unreachable (%s); retrying until it answers",
                self.what,
                describe(exc),
            )
        self.down = True

    def succeeded(self) -> None:
        """A try succeeded: log the end of an outage, if there was one."""
        if self.down:
            self.logger.info("%s: the database answers again", self.what)
        self.down = False
