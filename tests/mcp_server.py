"""A real MCP server (the official SDK's `MCPServer`) for the tests: a calendar with three
tools, over streamable HTTP or SSE, on loopback, in a thread of the test process. It refuses
requests without the expected bearer token, and records each tool call."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


@dataclass
class Calendar:
    url: str
    calls: list[dict] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def calendar_server(
    transport: str = "streamable_http", token: str | None = None
) -> Iterator[Calendar]:
    """The server running until the block ends; `url` is what a client registers."""
    server = MCPServer("calendar")
    port = _free_port()
    path = "/mcp" if transport == "streamable_http" else "/sse"
    calendar = Calendar(url=f"http://127.0.0.1:{port}{path}")

    @server.tool()
    def check_availability(day: str) -> str:
        """Tell which appointment times are free on a day."""
        calendar.calls.append({"tool": "check_availability", "day": day})
        return f"On {day} we have free appointments at ten and at three."

    @server.tool()
    def opening_times(day: str) -> str:
        """Tell when the clinic is open on a day."""
        calendar.calls.append({"tool": "opening_times", "day": day})
        return "On that day the clinic is open from nine in the morning to five in the evening."

    @server.tool()
    def book_appointment(date: str, time: str, duration: int) -> str:
        """Book an appointment."""
        calendar.calls.append({"tool": "book_appointment", "date": date, "time": time})
        return f"Booked on {date} at {time} for {duration} minutes."

    app = server.streamable_http_app() if transport == "streamable_http" else server.sse_app()
    if token is not None:

        async def check_token(request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
            if request.headers.get("authorization") != f"Bearer {token}":
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return await call_next(request)

        app.add_middleware(BaseHTTPMiddleware, dispatch=check_token)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the MCP server did not start")
        time.sleep(0.02)
    try:
        yield calendar
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
