"""HTTP clients for OpenAI-compatible providers, with one TLS context per process.

livekit-plugins-openai builds an `httpx` client for each STT, LLM and TTS it makes, and each
such client loads the system's CA bundle into a TLS context of its own: ~40 ms of CPU and
~1 MB of OpenSSL allocations, two or three times per call (the call's providers are built when
it starts). Those clients end in reference cycles, so the memory stayed until Python's
occasional full collection and came back fragmented: the worker's RSS grew with every call.
The clients made here share one TLS context, loaded once with the same trust store.
"""

from __future__ import annotations

import functools
import ssl

import httpcore2
import httpx2
import openai

from shared.egress import EgressPolicy, httpx_client

TIMEOUT = httpx2.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0)
"""livekit-plugins-openai's own timeouts for the clients it makes."""
LIMITS = httpx2.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=120)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context for provider connections (the trust store `httpx` would
    load for each client). An `SSLContext` is safe to share between threads and loops."""
    return httpcore2.default_ssl_context()


def openai_client(
    *, api_key: str, base_url: str | None, egress: EgressPolicy | None = None
) -> openai.AsyncClient:
    """An OpenAI SDK client as livekit-plugins-openai makes them (no SDK retries: the
    framework's connect options retry), on the shared TLS context. With `egress` (for a base
    URL a tenant chose), it connects only where the policy allows and follows no redirect."""
    if egress is None:
        http_client = httpx2.AsyncClient(
            verify=tls_context(), timeout=TIMEOUT, follow_redirects=True, limits=LIMITS
        )
    else:
        http_client = httpx_client(
            egress,
            http=httpx2,
            core=httpcore2,
            transport_options={"verify": tls_context(), "limits": LIMITS},
            timeout=TIMEOUT,
        )
    return openai.AsyncClient(
        api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client
    )
