"""The fake Twilio's state and request handling: accounts, calls, the gate every REST request
passes (fault, credentials), and the test-facing control of calls (inbound calls, waiting for
outbound ones, callee behaviour)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from fake_providers.common import FakeState, apply_latency
from fake_providers.server import FakeServer
from fake_providers.twilio.call import FakeCall
from fake_providers.twilio.flow import CallFlow, Source
from fake_providers.twilio.protocol import (
    CALLEE_BEHAVIOURS,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    fault_body,
    now_utc,
    unauthorized_body,
)
from fake_providers.twilio.webhooks import Sender

Handler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


class TwilioCore(FakeServer):
    """What the fake Twilio's routes stand on. `FakeTwilio` adds the routes.

    Args:
        accounts: ``{AccountSid: AuthToken}`` of the accounts that exist (one default account
            when None: `DEFAULT_ACCOUNT_SID` / `DEFAULT_AUTH_TOKEN`).
        state: faults and request log (a new `FakeState` by default).
        callee_behaviour: ``{number: "answer" | "busy" | "no-answer" | "failed"}``, how the
            callee of an outbound call to that number behaves (``answer`` when not listed).
        ring_seconds: how long an outbound call rings before the callee answers.
        no_answer_seconds: how long an unanswered outbound call rings before it gives up
            (Twilio rings ``Timeout`` seconds, 60 by default; the shorter one is used).
        host, port: where `start` (and ``async with`` / ``with``) serves by default; port 0
            picks a free one.
    """

    title = "Twilio"
    slug = "twilio"

    def __init__(
        self,
        *,
        accounts: Mapping[str, str] | None = None,
        state: FakeState | None = None,
        callee_behaviour: Mapping[str, str] | None = None,
        ring_seconds: float = 0.05,
        no_answer_seconds: float = 0.3,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(state=state)
        self.host = host
        self.port = port
        self.accounts = dict(accounts or {DEFAULT_ACCOUNT_SID: DEFAULT_AUTH_TOKEN})
        self.callee_behaviour: dict[str, str] = {}
        for number, behaviour in (callee_behaviour or {}).items():
            self.set_callee(number, behaviour)
        self.ring_seconds = ring_seconds
        self.no_answer_seconds = no_answer_seconds
        self.created = now_utc()
        self.calls: dict[str, FakeCall] = {}
        self.sender = Sender(self.auth_token)
        self._flows: dict[str, CallFlow] = {}
        self._claimed: set[str] = set()
        self._call_added = asyncio.Event()

    # --- configuration --------------------------------------------------------------------------

    @property
    def sign_with_wrong_token(self) -> bool:
        """Sign every request sent from now on with a wrong auth token (a forged request)."""
        return self.sender.wrong_token

    @sign_with_wrong_token.setter
    def sign_with_wrong_token(self, value: bool) -> None:
        self.sender.wrong_token = value

    def auth_token(self, account_sid: str) -> str:
        return self.accounts[account_sid]

    def set_callee(self, number: str, behaviour: str) -> None:
        if behaviour not in CALLEE_BEHAVIOURS:
            raise ValueError(f"callee behaviour must be one of {sorted(CALLEE_BEHAVIOURS)}")
        self.callee_behaviour[number] = behaviour

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        """Serve on `host`:`port` (the constructor's by default); the base URL is the server
        root, since Twilio's API paths begin with their version (``/2010-04-01``)."""
        host = host or self.host
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.shutdown_timeout,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, host, self.port if port is None else port).start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}"
        self.log.info("fake %s listening on %s", self.title, self.base_url)
        return self.base_url

    def start_in_thread(self, host: str | None = None, port: int | None = None) -> str:
        return super().start_in_thread(host or self.host, self.port if port is None else port)

    async def stop(self) -> None:
        """End the calls still running (their streams are closed), then stop serving."""
        tasks = [f.task for f in self._flows.values() if f.task is not None and not f.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self.sender.close()
        await super().stop()

    # --- calls ----------------------------------------------------------------------------------

    def _flow(self, call: FakeCall) -> CallFlow:
        flow = CallFlow(
            call,
            self.sender,
            ring_seconds=self.ring_seconds,
            no_answer_seconds=self.no_answer_seconds,
        )
        self.calls[call.sid] = call
        self._flows[call.sid] = flow
        self._call_added.set()
        return flow

    def start_outbound(self, call: FakeCall, source: Source) -> None:
        self._flow(call).start_outbound(self.callee_behaviour.get(call.to, "answer"), source)

    def flow_of(self, call: FakeCall) -> CallFlow:
        return self._flows[call.sid]

    async def place_inbound_call(
        self,
        voice_url: str,
        *,
        to: str = "+15550001111",
        from_: str = "+15559998888",
        account_sid: str | None = None,
        status_callback: str | None = None,
        method: str = "POST",
        status_callback_method: str = "POST",
    ) -> FakeCall:
        """Someone calls the account's number `to`: Twilio asks `voice_url` for TwiML (signed)
        and runs it. Returns at once; await ``call.connected()`` or ``call.ended()``."""
        account_sid = account_sid or next(iter(self.accounts))
        if account_sid not in self.accounts:
            raise ValueError(f"unknown account {account_sid}")
        call = FakeCall(
            account_sid=account_sid,
            direction="inbound",
            to=to,
            from_=from_,
            status_callback=status_callback,
            status_callback_method=status_callback_method,
        )
        self._flow(call).start_inbound(voice_url, method)
        return call

    async def wait_for_call(
        self,
        to: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a test's wait reads best with its bound inline
        *,
        direction: str = "outbound-api",
    ) -> FakeCall:
        """The next call created through the REST API (to `to`, when given) that no earlier
        `wait_for_call` returned, as soon as it exists."""
        async with asyncio.timeout(timeout):
            while True:
                for call in self.calls.values():
                    wanted = call.direction == direction and to in (None, call.to)
                    if wanted and call.sid not in self._claimed:
                        self._claimed.add(call.sid)
                        return call
                self._call_added.clear()
                await self._call_added.wait()

    # --- the REST gate --------------------------------------------------------------------------

    def _account(self, request: web.Request) -> str | None:
        """The account the Basic credentials prove, if they do."""
        credentials = _basic_credentials(request.headers.get("Authorization", ""))
        if credentials is None:
            return None
        login, password = credentials
        token = self.accounts.get(login)
        return login if token is not None and hmac.compare_digest(password, token) else None

    def _route(self, name: str, handler: Handler) -> Callable[[web.Request], Any]:
        """Log the request, then apply the route's fault, then check the credentials (the
        account they prove must be the one in the path)."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            response: web.StreamResponse
            account = self._account(request)
            body = _form_summary(await request.post()) if request.method == "POST" else None
            record = self.state.log(name, request, account, body)
            fault = self.state.fault(name)
            await apply_latency(fault)
            if fault.drop_after_chunks is not None:
                record.completed = False
                self._abort(request)
                return web.Response(status=503)
            status = fault.take_status()
            if status is not None:
                response = web.json_response(fault.body or fault_body(status), status=status)
            elif account is None or account != request.match_info.get("account"):
                response = web.json_response(
                    unauthorized_body(),
                    status=401,
                    headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
                )
            else:
                response = await handler(request, account)
            record.status = response.status
            return response

        return wrapped


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """``(login, password)`` of an HTTP Basic ``Authorization`` header, None if it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep else None


def _form_summary(form: Mapping[str, Any]) -> dict[str, Any]:
    """A form for the request log: repeated names keep all their values, as a list."""
    summary: dict[str, Any] = {}
    for name, value in form.items():
        if name in summary:
            previous = summary[name]
            summary[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            summary[name] = value
    return summary
