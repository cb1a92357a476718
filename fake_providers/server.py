"""The base both fake vendor servers stand on: an aiohttp app with the ``/_fake/*`` control
routes, served on a port from the caller's event loop or from a thread of its own.

A subclass names its vendor (`title`, `slug`), lists its routes (`routes`) and, if it wants,
middlewares and a larger upload limit. It inherits the fault plans and the request log
(`state`), the accepted keys, the speech-to-text engine, start and stop, the ``async with`` /
``with`` forms, and the closing of open websockets at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable
from typing import Any, ClassVar, Self

from aiohttp import web

from .common import FakeState, Fault, Transcriber, control_routes

logger = logging.getLogger(__name__)


class FakeServer:
    """One fake vendor API on aiohttp (see the module docstring).

    Args:
        state: faults, request log and accepted keys; a new `FakeState` by default.
        valid_keys: the API keys accepted (sets ``state.valid_keys``); None accepts any
            non-empty key.
        fixed_transcript: answer every speech-to-text request with this text instead of
            running Whisper (cheap, for load tests).
        transcriber: a `Transcriber` to share between servers (overrides `fixed_transcript`).
    """

    title: ClassVar[str] = "provider"
    """The vendor's name, as logs and the command line print it."""
    slug: ClassVar[str] = "provider"
    """The vendor's name in thread names."""
    client_max_size: ClassVar[int] = 1024**2
    """The largest request body accepted, in bytes."""
    shutdown_timeout: ClassVar[float] = 60.0
    """Seconds `stop` waits for requests still being answered."""
    log: ClassVar[logging.Logger] = logger

    def __init__(
        self,
        *,
        state: FakeState | None = None,
        valid_keys: Iterable[str] | None = None,
        fixed_transcript: str | None = None,
        transcriber: Transcriber | None = None,
    ) -> None:
        self.state = state or FakeState()
        if valid_keys is not None:
            self.state.valid_keys = set(valid_keys)
        self.transcriber = transcriber or Transcriber(fixed=fixed_transcript)
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- what a vendor adds ---------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The vendor's API routes (the ``/_fake/*`` control routes come with the base)."""
        raise NotImplementedError

    def middlewares(self) -> list[Any]:
        return []

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.client_max_size, middlewares=self.middlewares())
        app.add_routes(control_routes(self.state))
        app.add_routes(self.routes())
        app.on_shutdown.append(self._close_sockets)
        return app

    # --- faults ---------------------------------------------------------------------------------

    def set_fault(self, route: str, **spec: Any) -> Fault:
        """Shortcut for ``state.faults[route] = Fault(**spec)``."""
        fault = Fault(**spec)
        self.state.faults[route] = fault
        return fault

    @staticmethod
    async def _sleep_ms(ms: float) -> None:
        if ms > 0:
            await asyncio.sleep(ms / 1000)

    @staticmethod
    def _abort(request: web.Request) -> None:
        """Close the TCP connection without a clean end (of the HTTP body or the websocket)."""
        transport = request.transport
        if transport is not None:
            transport.abort()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host`:`port` (0: any free port); returns the base URL ``.../v1``."""
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.shutdown_timeout,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound}/v1"
        self.log.info("fake %s listening on %s", self.title, self.base_url)
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def root_url(self) -> str:
        """The server root (where ``/_fake/*`` lives)."""
        assert self.base_url, "not started"
        return self.base_url.removesuffix("/v1")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve from a background thread with its own event loop (for synchronous callers)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"fake-{self.slug}", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            return asyncio.run_coroutine_threadsafe(self.start(host, port), loop).result(30)
        except BaseException:
            self._end_thread(loop, thread)
            raise

    run_in_thread = start_in_thread

    def stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
        finally:
            self._end_thread(loop, thread)

    def _end_thread(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutdown")


def serve_forever(server: FakeServer, host: str, port: int) -> None:
    """Run a fake server from the command line until Ctrl-C."""

    async def serve() -> None:
        url = await server.start(host, port)
        print(f"fake {server.title} listening on {url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
