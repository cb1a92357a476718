"""The fake Twilio's REST API (version 2010-04-01): the account, and the Calls resource
(create, list, fetch, update)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from fake_providers.twilio.call import FakeCall
from fake_providers.twilio.core import TwilioCore
from fake_providers.twilio.flow import Fetch, Inline, Source
from fake_providers.twilio.protocol import (
    API_VERSION,
    INVALID_FROM,
    INVALID_PARAMETER,
    INVALID_TO,
    MISSING_FROM,
    MISSING_TO,
    MISSING_URL,
    NOT_FOUND,
    NOT_IN_PROGRESS,
    STATUS_EVENTS,
    account_uri,
    error_body,
    is_phone_address,
    rfc2822,
)

_UPDATE_STATUSES = ("completed", "canceled")


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(error_body(status, code, message), status=status)


def _not_found(request: web.Request) -> web.Response:
    return _error(404, NOT_FOUND, f"The requested resource {request.path} was not found")


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _events(form: MultiDictProxy[Any]) -> list[str]:
    """``StatusCallbackEvent``: repeated, or several in one value separated by spaces."""
    events: list[str] = []
    for value in form.getall("StatusCallbackEvent", []):
        events.extend(e for e in re.split(r"[\s,]+", str(value)) if e)
    return events


class RestRoutes(TwilioCore):
    """The REST handlers; each is wrapped by `TwilioCore._route` (fault, credentials)."""

    async def _get_account(self, request: web.Request, account: str) -> web.Response:
        created = rfc2822(self.created)
        return web.json_response(
            {
                "auth_token": self.accounts[account],
                "date_created": created,
                "date_updated": created,
                "friendly_name": f"Fake Twilio account {account[-6:]}",
                "owner_account_sid": account,
                "sid": account,
                "status": "active",
                "subresource_uris": {
                    "calls": f"/{API_VERSION}/Accounts/{account}/Calls.json",
                },
                "type": "Full",
                "uri": account_uri(account),
            }
        )

    async def _create_call(self, request: web.Request, account: str) -> web.Response:
        form = await request.post()
        refused = self._check_create(form)
        if refused is not None:
            return refused
        source: Source
        twiml = form.get("Twiml")
        if twiml:
            source = Inline(str(twiml))
        else:
            method = str(form.get("Method", "POST")).upper()
            source = Fetch(str(form["Url"]), method, "voice")
        try:
            timeout = int(str(form.get("Timeout", 60)))
        except ValueError:
            timeout = 60
        call = FakeCall(
            account_sid=account,
            direction="outbound-api",
            to=str(form["To"]),
            from_=str(form["From"]),
            status_callback=str(form["StatusCallback"]) if form.get("StatusCallback") else None,
            status_callback_method=str(form.get("StatusCallbackMethod", "POST")),
            status_callback_events=_events(form) or ("completed",),
            timeout=max(1, min(timeout, 600)),
            params={name: str(value) for name, value in form.items()},
        )
        self.start_outbound(call, source)
        return web.json_response(call.resource(), status=201)

    @staticmethod
    def _check_create(form: MultiDictProxy[Any]) -> web.Response | None:
        """The 400 Twilio answers an incomplete or invalid create request with, if any."""
        to, from_ = str(form.get("To", "")), str(form.get("From", ""))
        if not to:
            return _error(400, MISSING_TO, "No 'To' number is specified")
        if not from_:
            return _error(400, MISSING_FROM, "No 'From' number is specified")
        if not is_phone_address(to):
            return _error(400, INVALID_TO, f"Invalid 'To' Phone Number: {to}")
        if not is_phone_address(from_):
            return _error(400, INVALID_FROM, f"Invalid From Number (caller ID): {from_}")
        url = str(form.get("Url", ""))
        if not form.get("Twiml") and not url:
            message = "Url parameter is required. Please provide a Url, Twiml or ApplicationSid."
            return _error(400, MISSING_URL, message)
        if url and not _http_url(url):
            return _error(400, MISSING_URL, f"Url is not a valid URL: {url}")
        unknown = set(_events(form)) - set(STATUS_EVENTS)
        if unknown:
            message = f"Invalid StatusCallbackEvent: {sorted(unknown)[0]}"
            return _error(400, INVALID_PARAMETER, message)
        return None

    async def _list_calls(self, request: web.Request, account: str) -> web.Response:
        q = request.query
        calls = [
            c.resource()
            for c in reversed(list(self.calls.values()))
            if c.account_sid == account
            and q.get("To", c.to) == c.to
            and q.get("From", c.from_) == c.from_
            and q.get("Status", c.status) == c.status
        ]
        uri = request.path_qs
        return web.json_response(
            {
                "calls": calls,
                "start": 0,
                "end": max(len(calls) - 1, 0),
                "page": 0,
                "page_size": max(len(calls), 50),
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": uri,
            }
        )

    def _call(self, request: web.Request, account: str) -> FakeCall | None:
        call = self.calls.get(request.match_info["call"])
        return call if call is not None and call.account_sid == account else None

    async def _get_call(self, request: web.Request, account: str) -> web.Response:
        call = self._call(request, account)
        if call is None:
            return _not_found(request)
        return web.json_response(call.resource())

    async def _update_call(self, request: web.Request, account: str) -> web.Response:
        """Redirect a live call to new TwiML, or end it (``Status``)."""
        call = self._call(request, account)
        if call is None:
            return _not_found(request)
        form = await request.post()
        status = str(form.get("Status", "")).lower()
        twiml, url = str(form.get("Twiml") or ""), str(form.get("Url") or "")
        if status and status not in _UPDATE_STATUSES:
            return _error(400, INVALID_PARAMETER, f"Invalid Status: {status}")
        if not (status or twiml or url):
            return web.json_response(call.resource())
        if call.is_over:
            return _error(400, NOT_IN_PROGRESS, "Call is not in-progress. Cannot redirect.")
        if url and not _http_url(url):
            return _error(400, MISSING_URL, f"Url is not a valid URL: {url}")
        flow = self.flow_of(call)
        if status == "completed":
            flow.hang_up("completed" if call.answered_at is not None else "canceled")
        elif status == "canceled":
            if call.answered_at is None:  # canceled leaves an answered call alone
                flow.hang_up("canceled")
        elif twiml:
            flow.redirect(Inline(twiml))
        else:
            flow.redirect(Fetch(url, str(form.get("Method", "POST")).upper(), "redirect"))
        return web.json_response(call.resource())
