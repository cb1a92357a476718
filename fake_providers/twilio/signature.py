"""Twilio's request signature (``X-Twilio-Signature``), written from its documented algorithm.

Twilio signs every request it sends (webhooks, status callbacks, action URLs, the media-stream
handshake): the full URL the request goes to (scheme, host, port, path and query string), then,
for a form POST, every parameter name sorted followed immediately by its value; the string is
HMAC-SHA1'd with the account's auth token and base64-encoded. A parameter given several times
contributes each distinct value, sorted, as Twilio's own validators compute it.

This module is the independent reference a product's validator is tested against, so it
imports nothing from the product.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | None
"""Form parameters: a mapping (a multidict's repeated names count; a list or tuple value is
several values), or (name, value) pairs. Values are taken as text."""

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _grouped(params: Params) -> dict[str, list[str]]:
    if params is None:
        return {}
    pairs: Iterable[tuple[str, Any]] = params.items() if isinstance(params, Mapping) else params
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        values = grouped.setdefault(str(name), [])
        if isinstance(value, list | tuple):
            values.extend(str(v) for v in value)
        else:
            values.append(str(value))
    return grouped


def signed_string(url: str, params: Params = None) -> str:
    """The string Twilio signs: the URL, then each parameter name and value, names sorted."""
    grouped = _grouped(params)
    return url + "".join(
        name + value for name in sorted(grouped) for value in sorted(set(grouped[name]))
    )


def compute_signature(auth_token: str, url: str, params: Params = None) -> str:
    """The ``X-Twilio-Signature`` of a request to `url` with form `params` (None for a GET or
    a websocket handshake, whose parameters are in the URL)."""
    digest = hmac.new(
        auth_token.encode(), signed_string(url, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """`url` as given, and with its default port added or removed (Twilio may sign either,
    depending on whether the configured URL named the port)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if default is None or not host:
        return [url]
    if parts.port is None:
        other = f"{host}:{default}"
    elif parts.port == default:
        other = host
    else:
        return [url]
    if parts.username:
        other = f"{parts.username}{':' + parts.password if parts.password else ''}@{other}"
    return [url, urlunsplit(parts._replace(netloc=other))]


def validate_signature(auth_token: str, url: str, params: Params, signature: str | None) -> bool:
    """Whether `signature` is Twilio's for this request (compared in constant time)."""
    if not signature:
        return False
    return any(
        hmac.compare_digest(compute_signature(auth_token, candidate, params), signature)
        for candidate in _port_variants(url)
    )
