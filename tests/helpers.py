"""Small async helpers shared by integration and e2e tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from livekit import api, rtc
from livekit.agents import APIConnectOptions
from livekit.agents import llm as lk_llm

from pipelines.settings import CloudSettings, EngineSettings, ProviderCredentials
from shared.egress import EgressPolicy
from simulator.stack import Stack


async def poll_until(
    probe: Callable[[], Awaitable[Any] | Any], within: float, what: str, interval: float = 0.2
) -> Any:
    """Re-check external state (another process's) until it holds; fail with `what`."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(interval)


def worker_info(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/worker", timeout=5) as resp:
        return dict(json.loads(resp.read()))


@asynccontextmanager
async def caller_in_room(stack: Stack) -> AsyncIterator[tuple[rtc.Room, str, api.LiveKitAPI]]:
    """A fresh room with one connected (silent) caller; yields (room, name, api client)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    token = (
        api.AccessToken(stack.key, stack.secret)
        .with_identity(f"caller-{uuid.uuid4().hex[:4]}")
        .with_grants(api.VideoGrants(room_join=True, room=name))
        .to_jwt()
    )
    ep = stack.endpoint
    async with api.LiveKitAPI(ep.http_url, ep.api_key, ep.api_secret) as lkapi:
        await lkapi.room.create_room(api.CreateRoomRequest(name=name, empty_timeout=30))
        room = rtc.Room()
        await room.connect(ep.url, token)
        try:
            yield room, name, lkapi
        finally:
            await room.disconnect()
            with suppress(api.TwirpError):
                await lkapi.room.delete_room(api.DeleteRoomRequest(room=name))


def agent_joined(room: rtc.Room) -> asyncio.Future[rtc.RemoteParticipant]:
    """Resolves with the first agent participant to join `room`."""
    fut: asyncio.Future[rtc.RemoteParticipant] = asyncio.get_running_loop().create_future()

    def check(p: rtc.RemoteParticipant) -> None:
        if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and not fut.done():
            fut.set_result(p)

    for p in room.remote_participants.values():
        check(p)
    room.on("participant_connected", check)
    return fut


def worker_log_records(stack: Stack, room: str) -> list[dict[str, Any]]:
    """The worker's structured log records about one room."""
    records = []
    for line in stack.processes["worker"].log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("room") == room:
                records.append(record)
    return records


@dataclass
class Receiver:
    """An HTTP endpoint that checks each delivery's signature, failing the first `fail` ones."""

    secret: str = "whsec_test_0123456789abcdef"
    fail: int = 0
    seen: list[int] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    port: int = 0
    runner: web.AppRunner | None = None
    host: str = "127.0.0.1"
    redirect_to: str | None = None
    """Answer every delivery with a redirect there instead."""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.redirect_to is not None:
            self.seen.append(307)
            raise web.HTTPTemporaryRedirect(self.redirect_to)
        expected = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        payload = json.loads(body)
        valid = (
            hmac.compare_digest(expected, request.headers.get("X-Signature", ""))
            and request.headers.get("X-Timestamp") == str(payload["timestamp"])
            and abs(time.time() - payload["timestamp"]) < 300
        )
        if not valid:
            self.seen.append(401)
            return web.Response(status=401)
        if self.fail > 0:
            self.fail -= 1
            self.seen.append(500)
            return web.Response(status=500)
        self.seen.append(200)
        self.events.append(payload)
        return web.Response(status=200)

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, port)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def events_of(self, event: str) -> list[dict]:
        return [e for e in self.events if e["event"] == event]


def words(text: str) -> set[str]:
    """The lower-case words of a transcript, without punctuation."""
    return {w.strip(".,!?;:'\"").lower() for w in text.split()}


def described(speech: Any, rate: int = 48000, quiet_rms: float = 50.0) -> str:
    """What a failed check on heard speech (`simulator.caller.AgentSpeech`) should say: its
    transcript, its length and its pauses of 60 ms or more (where the audio went quiet: a
    reply cut by late audio shows long ones)."""
    audio = speech.audio.astype("float64")
    frame = rate // 100
    pauses: list[str] = []
    run = 0
    for index in range(len(audio) // frame):
        chunk = audio[index * frame : (index + 1) * frame]
        if float((chunk**2).mean()) ** 0.5 < quiet_rms:
            run += 1
            continue
        if run >= 6:
            pauses.append(f"{(index - run) * 10} ms +{run * 10}")
        run = 0
    return f"{speech.transcript!r}, {len(audio) / rate:.2f} s, pauses at {pauses}"


async def call_once(details: dict[str, str], question: str, wait: float = 60):
    """Join a call started by `POST /conversations`, hear the greeting, ask `question`, hang
    up; the caller's report."""
    from simulator.caller import CallScript, Utterance, join_conversation
    from simulator.speech import render_speech

    script = CallScript(
        turns=[Utterance(render_speech(question), question)],
        greeting_timeout=wait,
        reply_timeout=wait,
    )
    return await join_conversation(
        details["websocket_url"], details["token"], details["room_name"], script
    )


def capture_threads(pid: int) -> int:
    """libwebrtc's capture threads in a process: one for each local audio track it holds."""
    count = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended while listed
            count += (task / "comm").read_text().strip() == "AudioSourceCapt"
    return count


def llm_engines(*, deployment_openai_key: str, egress: EgressPolicy) -> SimpleNamespace:
    """What `pipelines.factory.build_llm` reads of a worker's engines: its settings, with a
    deployment-wide OpenAI key for a deployment URL that nothing answers."""
    return SimpleNamespace(
        settings=EngineSettings(
            cloud=CloudSettings(openai_base_url="https://api.openai.example/v1"),
            credentials=ProviderCredentials(openai=deployment_openai_key),
            egress=egress,
        )
    )


def primary_llm(model: lk_llm.LLM) -> lk_llm.LLM:
    """The first model of a fallback chain (the model itself when there is none)."""
    return model._llm_instances[0] if isinstance(model, lk_llm.FallbackAdapter) else model


async def answer(model: lk_llm.LLM, within: float = 10) -> str:
    """The model's answer to one question, without retries."""
    ctx = lk_llm.ChatContext()
    ctx.add_message(role="user", content="Hello?")
    text = ""
    options = APIConnectOptions(max_retry=0, timeout=within)
    async with model.chat(chat_ctx=ctx, conn_options=options) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                text += chunk.delta.content
    return text


class BookingServer:
    """An HTTP tool on loopback (`POST /bookings`): records each request's body and
    `Authorization` header, answers `{"confirmation": ...}`."""

    def __init__(self, confirmation: str) -> None:
        self.confirmation = confirmation
        self.requests: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def book(self, request: web.Request) -> web.Response:
        self.requests.append(
            {"body": await request.json(), "authorization": request.headers.get("Authorization")}
        )
        return web.json_response({"confirmation": self.confirmation})

    async def __aenter__(self) -> BookingServer:
        app = web.Application()
        app.router.add_post("/bookings", self.book)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/bookings"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
