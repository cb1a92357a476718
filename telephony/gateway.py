"""The phone gateway: an aiohttp server taking the provider's media-stream websockets
(`/twilio/media`), a `PhoneBridge` per call, and `/health`."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from livekit_patches import ffi_routing

from .bridge import PhoneBridge
from .settings import GatewaySettings

logger = logging.getLogger("telephony.gateway")

MEDIA_PATH = "/twilio/media"


def create_app(settings: GatewaySettings) -> web.Application:
    app = web.Application()
    lines: set[asyncio.Task[None]] = set()

    async def twilio_media(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=None, max_msg_size=1024 * 1024)
        await socket.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        lines.add(task)
        try:
            await PhoneBridge(socket, settings.livekit_url).run()
        finally:
            lines.discard(task)
        return socket

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "lines": len(lines)})

    async def close_lines(app: web.Application) -> None:
        for task in list(lines):
            task.cancel()
        await asyncio.gather(*lines, return_exceptions=True)

    app.router.add_get(MEDIA_PATH, twilio_media)
    app.router.add_get("/health", health)
    app.on_shutdown.append(close_lines)
    return app


async def serve(settings: GatewaySettings, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled."""
    # Each line's audio events straight to that line: the SDK offers every event to every
    # stream and capture in the process (work in lines^2), as in the worker.
    ffi_routing.install()
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.gateway_host, settings.gateway_port)
    await site.start()
    logger.info(
        "phone gateway listening on ws://%s:%s%s",
        settings.gateway_host,
        settings.gateway_port,
        MEDIA_PATH,
    )
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
