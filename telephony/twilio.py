"""Twilio: request signatures, TwiML, and the REST calls a phone line needs.

Everything here follows Twilio's documentation: the `X-Twilio-Signature` algorithm (the full
URL, then each POST parameter's name and value in name order, HMAC-SHA1 with the account's
auth token, base64), `<Connect><Stream>` for a bidirectional media stream, and the 2010-04-01
REST API (an account, creating a call, modifying a live call). Failures come back as two
kinds: `TwilioRejectedError` (the credentials or the request were refused: 4xx) and
`TwilioUnavailableError` (anything else: network, timeout, 5xx). Credentials never appear in
messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import httpx

API_VERSION = "2010-04-01"
DEFAULT_BASE_URL = "https://api.twilio.com"

FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
"""Call statuses after which a call is over."""


# --- signatures ---------------------------------------------------------------------------------


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """`X-Twilio-Signature` of a request to `url` carrying the form `params`."""
    payload = url + "".join(name + value for name, value in sorted(params, key=lambda p: p[0]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str | None
) -> bool:
    """Whether `given` signs this request (compared in constant time)."""
    if not given:
        return False
    return hmac.compare_digest(signature(auth_token, url, list(params)), given)


# --- TwiML --------------------------------------------------------------------------------------


def _document(*verbs: ElementTree.Element) -> str:
    response = ElementTree.Element("Response")
    response.extend(verbs)
    return '<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(
        response, encoding="unicode"
    )


def connect_stream(stream_url: str, parameters: Mapping[str, str], action: str | None) -> str:
    """Connect the call to a bidirectional media stream; `action` is requested when the
    stream ends, and what it answers runs next (a transfer, or the hang-up)."""
    connect = ElementTree.Element("Connect", {"action": action} if action else {})
    stream = ElementTree.SubElement(connect, "Stream", {"url": stream_url})
    for name, value in parameters.items():
        ElementTree.SubElement(stream, "Parameter", {"name": name, "value": value})
    return _document(connect)


def dial(number: str) -> str:
    """Hand the call to another number."""
    element = ElementTree.Element("Dial")
    element.text = number
    return _document(element)


def hang_up() -> str:
    return _document(ElementTree.Element("Hangup"))


def reject(reason: str = "rejected") -> str:
    """Refuse an incoming call without answering it (`busy` or `rejected`)."""
    return _document(ElementTree.Element("Reject", {"reason": reason}))


# --- REST ---------------------------------------------------------------------------------------


class TwilioRejectedError(Exception):
    """Twilio refused the request (4xx); `status` and Twilio's message say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TwilioUnavailableError(Exception):
    """Twilio could not be asked, or failed (network, timeout, 5xx)."""


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str

    @property
    def masked(self) -> str:
        """What an API shows of them: the account and the token's last four characters."""
        return f"{self.account_sid}:***{self.auth_token[-4:]}"


class TwilioClient:
    """Twilio's REST API for one account."""

    def __init__(
        self, credentials: TwilioCredentials, base_url: str = DEFAULT_BASE_URL, timeout: float = 10
    ) -> None:
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _url(self, path: str) -> str:
        sid = self.credentials.account_sid
        return f"{self.base_url}/{API_VERSION}/Accounts/{sid}{path}.json"

    async def _request(
        self, method: str, path: str, form: dict[str, str | list[str]] | None = None
    ) -> dict[str, Any]:
        auth = (self.credentials.account_sid, self.credentials.auth_token)
        try:
            async with httpx.AsyncClient(timeout=self.timeout, auth=auth) as client:
                response = await client.request(method, self._url(path), data=form)
        except httpx.HTTPError as exc:
            raise TwilioUnavailableError(f"could not reach Twilio ({type(exc).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 500:
            raise TwilioUnavailableError(f"Twilio answered HTTP {response.status_code}")
        if response.status_code >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            raise TwilioRejectedError(
                response.status_code,
                f"Twilio refused the request (HTTP {response.status_code}"
                + (f": {message})" if message else ")"),
            )
        if not isinstance(body, dict):
            raise TwilioUnavailableError("Twilio answered with invalid JSON")
        return body

    async def account(self) -> dict[str, Any]:
        """The account the credentials belong to (checks them)."""
        return await self._request("GET", "")

    async def create_call(
        self,
        *,
        to: str,
        from_: str,
        twiml: str,
        status_callback: str,
        ring_seconds: int = 30,
    ) -> dict[str, Any]:
        """Place a call; Twilio runs `twiml` once it is answered and reports its progress to
        `status_callback`; unanswered after `ring_seconds`, it is `no-answer`."""
        form: dict[str, str | list[str]] = {
            "To": to,
            "From": from_,
            "Twiml": twiml,
            "StatusCallback": status_callback,
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
            "Timeout": str(ring_seconds),
        }
        return await self._request("POST", "/Calls", form)

    async def redirect_call(self, call_sid: str, twiml: str) -> dict[str, Any]:
        """Run `twiml` on a live call in place of what it is doing (its stream ends)."""
        return await self._request("POST", f"/Calls/{call_sid}", {"Twiml": twiml})

    async def end_call(self, call_sid: str) -> dict[str, Any]:
        return await self._request("POST", f"/Calls/{call_sid}", {"Status": "completed"})
