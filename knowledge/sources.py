"""Fetching a URL the knowledge base reads: guarded by the egress policy (no private,
loopback or link-local address unless the deployment allows it), no redirects followed
silently (each hop is checked again), a size and a time limit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from shared.egress import EgressPolicy, EgressRefusedError, httpx_client

from .documents import CONTENT_TYPES, Document, DocumentError, extract, html_text

MAX_REDIRECTS = 5


class FetchError(RuntimeError):
    """The URL could not be read; the message says why (refused address, status, size...)."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 5 * 1024 * 1024
    timeout: float = 20.0
    """Seconds for the whole fetch, redirects included."""


async def fetch(url: str, egress: EgressPolicy, limits: FetchLimits = FetchLimits()) -> Document:
    """The text of the page or file at `url`."""
    try:
        async with asyncio.timeout(limits.timeout):
            body, content_type, final_url = await _download(url, egress, limits)
    except TimeoutError:
        raise FetchError(f"no answer within {limits.timeout:g} s") from None
    media = content_type.split(";")[0].strip().lower()
    if media in ("text/html", "application/xhtml+xml") or (not media and body.lstrip()[:1] == b"<"):
        charset = httpx.Response(200, headers={"content-type": content_type}).charset_encoding
        text = html_text(body.decode(charset or "utf-8", errors="replace"), url=final_url)
        if not text.strip():
            raise DocumentError("the page has no text")
        return Document(format="html", text=text)
    if media not in CONTENT_TYPES:
        # A file served with a generic type: read it by its name.
        return extract(body, final_url.split("?")[0], content_type)
    return extract(body, None, media)


async def download(url: str, egress: EgressPolicy, limits: FetchLimits) -> tuple[bytes, str, str]:
    """The body at `url`, its content type and the URL it came from after redirects; every
    hop checked against the egress policy, the body bounded by `limits` (`FetchError`)."""
    return await _download(url, egress, limits)


async def _download(url: str, egress: EgressPolicy, limits: FetchLimits) -> tuple[bytes, str, str]:
    async with httpx_client(egress, timeout=limits.timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                await egress.check_url(url)
                async with client.stream(
                    "GET",
                    url,
                    headers={"Accept": "text/html,application/pdf,text/*;q=0.9,*/*;q=0.5"},
                ) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(f"HTTP {response.status_code} without a location")
                        url = urljoin(url, location)
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"HTTP {response.status_code} from {url}")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                        raise FetchError(
                            f"the response is {int(declared)} bytes, over the limit of "
                            f"{limits.max_bytes}"
                        )
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limits.max_bytes:
                            raise FetchError(
                                f"the response is over the limit of {limits.max_bytes} bytes"
                            )
                        chunks.append(chunk)
                    return b"".join(chunks), response.headers.get("content-type", ""), url
            except EgressRefusedError as exc:
                raise FetchError(f"refused: {exc}") from None
            except httpx.ConnectError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, EgressRefusedError):
                    raise FetchError(f"refused: {cause}") from None
                raise FetchError(f"cannot connect: {exc}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}") from None
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")
