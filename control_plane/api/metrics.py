"""`GET /metrics` (Prometheus text format, no API key, not in the OpenAPI document) and the
middleware counting every request by route template (`control_plane.metrics`)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import HTTP_LATENCY, HTTP_REQUESTS, REGISTRY, StoreGauges

UNMATCHED = "unmatched"
"""The route label of a request no route matched (its path may be anything)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other is `other`, so a client cannot mint labels."""


class RequestMetrics:
    """Counts and times each HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped the app

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router leaves the route it matched in the scope (a 405 too); none: 404.
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"] if scope["method"] in METHODS else "other"
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_LATENCY.labels(method=method, route=route).observe(time.perf_counter() - started)


def install(app: FastAPI, *, cache_seconds: float) -> None:
    """Serve `GET /metrics` and count the app's requests."""
    gauges = StoreGauges(max_age=cache_seconds)

    async def metrics(request: Request) -> Response:
        await gauges.refresh(request.app.state.sessions)
        # Prometheus' text format, or OpenMetrics when the scraper asks for it.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(REGISTRY), headers={"Content-Type": content_type})

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestMetrics)
