"""`FakeCall`: one call through the fake Twilio, what a test inspects and awaits.

It holds the call's identity and status, the REST resource Twilio answers for it, the signed
requests sent on its behalf (webhooks, action URLs, status callbacks), the TwiML verbs it ran,
its errors, the number a ``<Dial>`` transferred it to, and its media streams' `FakePhone`.
`CallFlow` (in `flow`) moves it along.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fake_providers.twilio.phone import FakePhone, StreamClosed
from fake_providers.twilio.protocol import (
    API_VERSION,
    FINAL_STATUSES,
    call_uri,
    new_sid,
    now_utc,
    rfc2822,
)


@dataclass(frozen=True)
class SentRequest:
    """One request the fake sent for a call: `kind` is ``voice``, ``action``, ``redirect``,
    ``dial-action``, ``status-callback`` or ``stream``; `status` is None when no answer came
    (connection refused, timeout), with `error` saying why."""

    kind: str
    method: str
    url: str
    params: dict[str, str]
    signature: str
    status: int | None
    body: str = ""
    error: str | None = None
    time: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class CallEvent:
    """Something the call did (a verb run, a status reached), at a monotonic time."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class CallError:
    """An error Twilio would report in its debugger: its code and message."""

    code: int
    message: str


class FakeCall:
    """One inbound or outbound call (see the module docstring).

    Attributes:
        sid, account_sid, direction (``inbound`` / ``outbound-api``), to, from_: identity.
        status: ``queued``, ``ringing``, ``in-progress``, then one of ``completed``,
            ``busy``, ``no-answer``, ``failed``, ``canceled``.
        status_callback, status_callback_method, status_callback_events: where progress
            goes and which events were subscribed (the final one is always sent).
        timeout: the ``Timeout`` asked for (seconds to ring an unanswered callee).
        params: the form of the REST request that created an outbound call.
        requests: every signed request sent for the call, in order.
        events: the verbs run and statuses reached.
        errors: application errors (bad TwiML, a webhook that failed...).
        http_status: the status of the failed TwiML request that ended the call, if any.
        dialed: the number (or address) a ``<Dial>`` transferred the call to.
        phones: the media streams opened, in order (`phone` is the last).
        end_reason: why the call ended (``caller hung up``, ``<Hangup>``, ``api``...).
    """

    def __init__(
        self,
        *,
        account_sid: str,
        direction: str,
        to: str,
        from_: str,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: Iterable[str] = ("completed",),
        timeout: int = 60,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.sid = new_sid("CA")
        self.account_sid = account_sid
        self.direction = direction
        self.to = to
        self.from_ = from_
        self.status = "queued" if direction != "inbound" else "ringing"
        self.status_callback = status_callback
        self.status_callback_method = status_callback_method.upper()
        self.status_callback_events = frozenset(status_callback_events) | {"completed"}
        self.timeout = timeout
        self.params = dict(params or {})
        self.date_created: datetime = now_utc()
        self.date_updated: datetime = self.date_created
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.requests: list[SentRequest] = []
        self.events: list[CallEvent] = []
        self.errors: list[CallError] = []
        self.http_status: int | None = None
        self.dialed: str | None = None
        self.phones: list[FakePhone] = []
        self.end_reason: str | None = None
        self._changed = asyncio.Event()
        self._over = asyncio.Event()

    # --- what a test reads ----------------------------------------------------------------------

    @property
    def phone(self) -> FakePhone | None:
        """The latest media stream's phone (None before one connected)."""
        return self.phones[-1] if self.phones else None

    @property
    def is_over(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def duration(self) -> int:
        """Seconds from answer to end, rounded up as Twilio bills them (0 if never answered)."""
        if self.answered_at is None:
            return 0
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        return max(1, math.ceil(end - self.answered_at - 1e-6))

    @property
    def callbacks(self) -> list[SentRequest]:
        """The status callbacks sent, in order."""
        return [r for r in self.requests if r.kind == "status-callback"]

    @property
    def callback_statuses(self) -> list[str]:
        return [r.params["CallStatus"] for r in self.callbacks]

    async def connected(self, timeout: float = 10.0) -> FakePhone:  # noqa: ASYNC109
        """The phone of the media stream once it is open (`StreamClosed` if the call ends
        first)."""
        async with asyncio.timeout(timeout):
            while True:
                phone = self.phone
                if phone is not None and phone.is_open:
                    return phone
                if self.is_over:
                    raise StreamClosed(f"call ended ({self.status}) with no open media stream")
                await self._wait_change()

    async def ended(self, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        """The final status, once the call is over and its last status callback was sent."""
        async with asyncio.timeout(timeout):
            await self._over.wait()
        return self.status

    async def wait_for_status(
        self,
        status: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - a test's wait reads best with its bound inline
    ) -> None:
        """Wait until the call reaches `status` (or is over: then `status` must be the final
        one, else AssertionError)."""
        async with asyncio.timeout(timeout):
            while self.status != status:
                if self.is_over:
                    raise AssertionError(f"call ended {self.status}, never {status}")
                await self._wait_change()

    def resource(self) -> dict[str, Any]:
        """The Call resource as the REST API answers it."""
        uri = call_uri(self.account_sid, self.sid)
        base = uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "duration": str(self.duration) if self.is_over else None,
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                name: f"{base}/{name.replace('_', ' ').title().replace(' ', '')}.json"
                for name in ("notifications", "recordings", "payments", "events", "streams")
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": uri,
        }

    def request_params(self, **extra: str) -> dict[str, str]:
        """The parameters every request Twilio sends about this call carries."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "CallStatus": self.status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
        }
        params.update(extra)
        return params

    # --- what the flow changes ------------------------------------------------------------------

    def set_status(self, status: str) -> None:
        self.status = status
        self.date_updated = now_utc()
        if status == "in-progress" and self.answered_at is None:
            self.answered_at = time.monotonic()
            self.start_time = self.date_updated
        if status in FINAL_STATUSES and self.ended_at is None:
            self.ended_at = time.monotonic()
            self.end_time = self.date_updated
        self.record("status", status=status)

    def record(self, kind: str, **detail: Any) -> None:
        self.events.append(CallEvent(kind, detail))
        self.changed()

    def add_error(self, code: int, message: str) -> None:
        self.errors.append(CallError(code, message))
        self.record("error", code=code, message=message)

    def add_phone(self, phone: FakePhone) -> None:
        self.phones.append(phone)
        self.changed()

    def mark_over(self) -> None:
        """The call is over and its final status callback went out."""
        self._over.set()
        self.changed()

    def changed(self) -> None:
        self._changed.set()

    async def _wait_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()
