"""Twilio's wire vocabulary: the API version, sids, dates, call statuses, error bodies and the
parameters every request Twilio sends about a call carries."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "TwilioProxy/1.1"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"

# Media Streams: G.711 mu-law, 8 kHz, one 20 ms frame (160 bytes) per media message.
SAMPLE_RATE = 8000
FRAME_SECONDS = 0.02
FRAME_BYTES = 160
ULAW_SILENCE = 0xFF
MEDIA_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1}
DTMF_DIGITS = frozenset("0123456789*#")

FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
CALLEE_BEHAVIOURS = frozenset({"answer", "busy", "no-answer", "failed"})
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
"""The ``StatusCallbackEvent`` values, in the order Twilio fires them."""

WEBHOOK_TIMEOUT_S = 15.0
"""How long Twilio waits for a webhook's answer before giving up on it."""

# Twilio error codes the fake reports (https://www.twilio.com/docs/api/errors).
INVALID_PARAMETER = 20001
AUTHENTICATE = 20003
NOT_FOUND = 20404
MISSING_TO = 21201
MISSING_URL = 21205
INVALID_TO = 21211
INVALID_FROM = 21212
MISSING_FROM = 21213
NOT_IN_PROGRESS = 21220
HTTP_RETRIEVAL_FAILURE = 11200
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200
CALLBACK_FAILURE = 15003
STREAM_HANDSHAKE_ERROR = 31920


def new_sid(prefix: str) -> str:
    """A Twilio sid: two letters of resource type and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def now_utc() -> datetime:
    return datetime.now(UTC)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format in resources and callbacks: ``Tue, 31 Aug 2010 20:36:28 +0000``."""
    return format_datetime(moment) if moment is not None else None


def error_body(status: int, code: int, message: str, detail: str | None = None) -> dict[str, Any]:
    """The JSON body of a REST error, as Twilio answers it."""
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    return body


def unauthorized_body() -> dict[str, Any]:
    detail = "Your AccountSid or AuthToken was incorrect."
    return error_body(401, AUTHENTICATE, "Authenticate", detail)


def fault_body(status: int) -> dict[str, Any]:
    """An injected failure: Twilio's own codes for HTTP errors are 20000 + the status."""
    messages = {
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    return error_body(status, 20000 + status, messages.get(status, f"HTTP {status}"))


def account_uri(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}.json"


def call_uri(account_sid: str, call_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call_sid}.json"


def is_phone_address(value: str) -> bool:
    """An E.164 number, or one of the other addresses a call can reach (SIP, client)."""
    if value.startswith(("sip:", "client:")):
        return len(value.split(":", 1)[1]) > 0
    digits = value.removeprefix("+")
    return digits.isdigit() and 2 <= len(digits) <= 15
