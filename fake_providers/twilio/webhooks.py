"""The requests the fake Twilio sends to the customer's application, signed as Twilio signs
them: voice webhooks, action URLs, status callbacks and the media-stream handshake."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import aiohttp

from fake_providers.twilio.call import FakeCall, SentRequest
from fake_providers.twilio.protocol import SIGNATURE_HEADER, USER_AGENT, WEBHOOK_TIMEOUT_S
from fake_providers.twilio.signature import compute_signature


class Sender:
    """Signs with the auth token of the call's account (`token_for`); with `wrong_token` set
    it signs with another token, so a test can check that the application refuses forgeries."""

    def __init__(self, token_for: Callable[[str], str]) -> None:
        self.token_for = token_for
        self.wrong_token = False
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """One client session for every request and media stream (made on first use, on the
        server's event loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def sign(self, account_sid: str, url: str, params: dict[str, str] | None = None) -> str:
        token = self.token_for(account_sid)
        if self.wrong_token:
            token = "not-" + token
        return compute_signature(token, url, params)

    def stream_headers(self, account_sid: str, url: str) -> dict[str, str]:
        """The media-stream handshake's headers: it is signed over its URL alone."""
        return {SIGNATURE_HEADER: self.sign(account_sid, url), "User-Agent": "Twilio.TmeWs/1.0"}

    async def send(
        self, call: FakeCall, kind: str, url: str, method: str, params: dict[str, str]
    ) -> SentRequest:
        """Send one signed request for `call` and record it (`call.requests`); a refused
        connection or a timeout is recorded too, with no status."""
        method = method.upper()
        if method == "GET":
            url = url + ("&" if "?" in url else "?") + urlencode(params)
            signature = self.sign(call.account_sid, url)
            data = None
        else:
            signature = self.sign(call.account_sid, url, params)
            data = params
        headers = {SIGNATURE_HEADER: signature, "User-Agent": USER_AGENT}
        status, body, error = None, "", None
        try:
            async with self.session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
            ) as response:
                status, body = response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        sent = SentRequest(kind, method, url, dict(params), signature, status, body, error)
        call.requests.append(sent)
        call.changed()
        return sent
