"""The fake Twilio, driven as a phone gateway drives Twilio: its REST API, and a small aiohttp
application on the other side (voice webhook, media-stream websocket, action URL and status
callbacks) that checks every signature with the reference implementation.

The media stream runs at real-time pace, so the tests wait on events (messages arriving,
sounds heard), never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from fake_providers.twilio import (
    FakeCall,
    FakeTwilio,
    StreamClosed,
    compute_signature,
    parse_twiml,
    speech,
    validate_signature,
)
from fake_providers.twilio.twiml import Connect, Dial, OtherVerb, Say, TwimlError
from shared.audio import ulaw_encode

ACCOUNT = "AC" + "ab" * 16
TOKEN = "test-auth-token-0001"
OTHER_ACCOUNT = "AC" + "cd" * 16
OTHER_TOKEN = "test-auth-token-0002"
NUMBER = "+15550001111"
CALLER = "+15559998888"
TRANSFER_TO = "+15550002222"
ALL_EVENTS = "initiated ringing answered completed"


@dataclass(frozen=True)
class Received:
    """A message the application's websocket received, with its arrival time."""

    at: float
    data: dict[str, Any]


class Customer:
    """The application Twilio calls: it answers the voice webhook with ``<Connect><Stream>``,
    takes the media stream (echoing the caller when `echo` is set), answers the action URL
    with a ``<Dial>`` and collects status callbacks. Every request's signature is checked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bool]] = []
        self.callbacks: list[dict[str, str]] = []
        self.messages: list[Received] = []
        self.ws: web.WebSocketResponse | None = None
        self.ws_count = 0
        self.handshake_signed = False
        self.close_code: int | None = None
        self.echo = False
        self.voice_body: str | None = None
        self.ws_done = asyncio.Event()
        self._changed = asyncio.Event()
        self._cursors: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.base = ""

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.base}{path}"

    def connect_twiml(self, action: bool = True) -> str:
        action_attr = f' action="{self.url("/action")}"' if action else ""
        return (
            f"<Response><Connect{action_attr}>"
            f'<Stream url="{self.url("/media", "ws")}" name="agent">'
            '<Parameter name="token" value="abc"/></Stream></Connect></Response>'
        )

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(
            [
                web.post("/voice", self._voice),
                web.get("/media", self._media),
                web.post("/action", self._action),
                web.post("/status", self._status),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _signed_form(self, request: web.Request, path: str) -> tuple[dict[str, str], bool]:
        form = await request.post()
        signed = validate_signature(
            TOKEN, str(request.url), form, request.headers.get("X-Twilio-Signature")
        )
        params = {k: str(v) for k, v in form.items()}
        self.requests.append((path, params, signed))
        self._notify()
        return params, signed

    async def _voice(self, request: web.Request) -> web.Response:
        _, signed = await self._signed_form(request, "/voice")
        if not signed:
            return web.Response(status=403, text="bad signature")
        return web.Response(text=self.voice_body or self.connect_twiml(), content_type="text/xml")

    async def _action(self, request: web.Request) -> web.Response:
        _, signed = await self._signed_form(request, "/action")
        if not signed:
            return web.Response(status=403)
        twiml = f"<Response><Dial>{TRANSFER_TO}</Dial></Response>"
        return web.Response(text=twiml, content_type="text/xml")

    async def _status(self, request: web.Request) -> web.Response:
        params, signed = await self._signed_form(request, "/status")
        if not signed:
            return web.Response(status=403)
        self.callbacks.append(params)
        return web.Response(status=204)

    async def _media(self, request: web.Request) -> web.WebSocketResponse:
        url = str(request.url.with_scheme("ws"))
        self.handshake_signed = validate_signature(
            TOKEN, url, None, request.headers.get("X-Twilio-Signature")
        )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws, self.ws_count = ws, self.ws_count + 1
        self.ws_done.clear()
        async for message in ws:
            data = json.loads(message.data)
            self.messages.append(Received(time.monotonic(), data))
            if self.echo and data["event"] == "media":
                await self.send_media(data["media"]["payload"], data["streamSid"])
            self._notify()
        self.close_code = ws.close_code
        self.ws_done.set()
        self._notify()
        return ws

    async def send(self, message: dict[str, Any] | str) -> None:
        assert self.ws is not None
        text = message if isinstance(message, str) else json.dumps(message)
        await self.ws.send_str(text)

    async def send_media(self, payload: str | bytes, stream_sid: str) -> None:
        if isinstance(payload, bytes):
            payload = base64.b64encode(payload).decode()
        await self.send({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})

    def events(self, name: str) -> list[Received]:
        return [m for m in self.messages if m.data["event"] == name]

    async def expect(self, event: str, within: float = 5.0) -> Received:
        """The next `event` message not returned before."""
        async with asyncio.timeout(within):
            while True:
                for index in range(self._cursors.get(event, 0), len(self.messages)):
                    if self.messages[index].data["event"] == event:
                        self._cursors[event] = index + 1
                        return self.messages[index]
                self._cursors[event] = len(self.messages)
                await self._wait()

    async def _wait(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(accounts={ACCOUNT: TOKEN, OTHER_ACCOUNT: OTHER_TOKEN}) as server:
        yield server


@pytest.fixture
async def customer() -> AsyncIterator[Customer]:
    app = Customer()
    await app.start()
    yield app
    await app.stop()


def basic(login: str, password: str) -> dict[str, str]:
    """HTTP Basic credentials, as Twilio's REST API takes them."""
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=basic(ACCOUNT, TOKEN)) as session:
        yield session


def tone(seconds: float, freq: float = 440.0) -> bytes:
    """A loud sine as 8 kHz mu-law: what the application would play to the caller."""
    t = np.arange(int(seconds * 8000)) / 8000
    return ulaw_encode((np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16))


def calls_url(fake: FakeTwilio, account: str = ACCOUNT) -> str:
    return f"{fake.base_url}/2010-04-01/Accounts/{account}/Calls.json"


async def call_in(fake: FakeTwilio, customer: Customer) -> FakeCall:
    return await fake.place_inbound_call(
        voice_url=customer.url("/voice"),
        to=NUMBER,
        from_=CALLER,
        account_sid=ACCOUNT,
        status_callback=customer.url("/status"),
    )


# --- signatures -------------------------------------------------------------------------------


def test_signature_matches_twilios_documented_example() -> None:
    """The worked example of Twilio's "Webhooks security" page (auth token 12345)."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    documented = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert compute_signature("12345", url, params) == documented
    assert compute_signature("12345", url, list(reversed(params.items()))) == documented
    assert validate_signature("12345", url, params, documented)
    # The same URL with its default port spelled out is the same request.
    assert validate_signature("12345", url.replace(".com/", ".com:443/"), params, documented)
    assert not validate_signature("12345", url, params | {"Digits": "9"}, documented)
    assert not validate_signature("12345", url.replace("foo=1", "foo=2"), params, documented)
    assert not validate_signature("54321", url, params, documented)
    assert not validate_signature("12345", url, params, None)


def test_twiml_parses_into_verbs() -> None:
    verbs = parse_twiml(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi</Say>'
        '<Connect action="/next"><Stream url="wss://gw.example/media">'
        '<Parameter name="a" value="1"/></Stream></Connect>'
        "<Dial><Number>+15550003333</Number></Dial><Gather/></Response>"
    )
    assert verbs[0] == Say("Hi")
    assert isinstance(verbs[1], Connect)
    assert verbs[1].action == "/next" and verbs[1].stream.parameters == {"a": "1"}
    assert isinstance(verbs[2], Dial) and verbs[2].target == "+15550003333"
    assert isinstance(verbs[3], OtherVerb) and verbs[3].name == "Gather"
    for bad in ("not xml", "<Response><Dance/></Response>", "<Response><Connect/></Response>"):
        with pytest.raises(TwimlError):
            parse_twiml(bad)


# --- inbound ----------------------------------------------------------------------------------


async def test_inbound_call_end_to_end(fake: FakeTwilio, customer: Customer) -> None:
    call = await call_in(fake, customer)
    phone = await call.connected(timeout=5)

    # The voice webhook: signed, with the call's parameters.
    path, voice, signed = customer.requests[0]
    assert (path, signed) == ("/voice", True)
    assert voice["CallSid"] == call.sid and voice["AccountSid"] == ACCOUNT
    assert (voice["From"], voice["To"], voice["Caller"], voice["Called"]) == (
        CALLER,
        NUMBER,
        CALLER,
        NUMBER,
    )
    assert (voice["CallStatus"], voice["Direction"], voice["ApiVersion"]) == (
        "ringing",
        "inbound",
        "2010-04-01",
    )

    # The stream opens with connected, then start.
    connected = (await customer.expect("connected")).data
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = (await customer.expect("start")).data
    assert customer.handshake_signed
    assert start["sequenceNumber"] == "1" and start["streamSid"] == phone.stream_sid
    assert start["start"]["callSid"] == call.sid and start["start"]["accountSid"] == ACCOUNT
    assert start["start"]["customParameters"] == {"token": "abc"}
    assert start["start"]["tracks"] == ["inbound"]
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    assert phone.start_parameters == {"token": "abc"}
    stream_sid = phone.stream_sid

    # The caller speaks; the application echoes it back, so the earpiece hears it.
    customer.echo = True
    said = await phone.say(*speech("Hello there, this is the caller."))
    heard = await phone.wait_for_speech(timeout=5, quiet=0.3)
    customer.echo = False
    assert said.complete and said.started_at is not None and said.ended_at is not None
    assert said.speech_started_at is not None and said.speech_ended_at is not None
    assert abs((said.ended_at - said.started_at) - said.frames * 0.02) < 0.06
    assert said.speech_started_at <= heard.started_at < said.speech_started_at + 0.2
    spoken = said.speech_ended_at - said.speech_started_at
    assert abs(heard.seconds - spoken) < 0.12, (heard.seconds, spoken)
    assert len(heard.pcm) == round(heard.seconds * 8000)

    # A media message every 20 ms, at real-time pace, silence when the caller is quiet.
    media = customer.events("media")
    assert len(media) > 60
    assert [int(m.data["media"]["chunk"]) for m in media] == list(range(1, len(media) + 1))
    assert all(m.data["media"]["timestamp"] == str(20 * i) for i, m in enumerate(media))
    assert all(m.data["media"]["track"] == "inbound" for m in media)
    elapsed = media[60].at - media[10].at
    assert 0.85 < elapsed < 1.25, elapsed
    assert base64.b64decode(media[0].data["media"]["payload"]) == b"\xff" * 160

    # A mark comes back once the audio queued before it has played.
    played_from = time.monotonic()
    await customer.send_media(tone(0.2), stream_sid)
    await customer.send({"event": "mark", "streamSid": stream_sid, "mark": {"name": "m1"}})
    mark = await customer.expect("mark")
    assert mark.data["mark"] == {"name": "m1"} and mark.data["streamSid"] == stream_sid
    assert 0.19 <= mark.at - played_from < 0.6, mark.at - played_from
    assert await phone.wait_for_sound(after=played_from, timeout=1) - played_from < 0.25

    # A clear drops the queued audio and echoes the pending mark at once.
    queued_at = time.monotonic()
    await customer.send_media(tone(2.0), stream_sid)
    await customer.send({"event": "mark", "streamSid": stream_sid, "mark": {"name": "m2"}})
    await phone.wait_for_sound(after=queued_at, timeout=1)
    cleared_at = time.monotonic()
    await customer.send({"event": "clear", "streamSid": stream_sid})
    mark = await customer.expect("mark")
    assert mark.data["mark"]["name"] == "m2" and mark.at - cleared_at < 0.5
    assert len(phone.clears) == 1 and phone.clears[0].marks == ("m2",)
    assert 1500 < phone.clears[0].dropped_ms < 2000
    assert await phone.wait_for_silence(after=cleared_at, timeout=1, quiet=0.1) - cleared_at < 0.25
    assert phone.marks == ["m1", "m2"]

    # What Twilio ignores is recorded, and the stream goes on.
    await customer.send("not json")
    await customer.send({"event": "media", "streamSid": "MZother", "media": {"payload": ""}})
    await customer.send({"event": "mark", "streamSid": stream_sid, "mark": {"name": "m3"}})
    assert (await customer.expect("mark")).data["mark"]["name"] == "m3"
    assert len(phone.errors) == 2, phone.errors

    # Keys pressed arrive as dtmf events, ~100 ms apart.
    assert await phone.press("5#") is True
    first, second = await customer.expect("dtmf"), await customer.expect("dtmf")
    assert first.data["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert second.data["dtmf"]["digit"] == "#" and second.at - first.at >= 0.09
    assert phone.digits == "5#"

    # Every message after connected carries the next sequence number.
    numbers = [int(m.data["sequenceNumber"]) for m in customer.messages[1:]]
    assert numbers == list(range(1, len(numbers) + 1))

    # The application closes the stream: Twilio asks the action URL, which dials a person.
    assert customer.ws is not None
    await customer.ws.close()
    assert await call.ended(timeout=5) == "completed"
    assert phone.closed_by == "server" and not customer.events("stop")
    assert call.dialed == TRANSFER_TO
    path, action, signed = customer.requests[1]
    assert (path, signed, action["CallStatus"]) == ("/action", True, "in-progress")
    (completed,) = customer.callbacks
    assert completed["CallStatus"] == "completed" and completed["CallSid"] == call.sid
    assert completed["CallbackSource"] == "call-progress-events"
    assert completed["SequenceNumber"] == "0" and completed["Direction"] == "inbound"
    assert int(completed["CallDuration"]) >= 2 and completed["Timestamp"].endswith("+0000")
    assert call.errors == []


async def test_a_forged_signature_fails_the_call(fake: FakeTwilio, customer: Customer) -> None:
    fake.sign_with_wrong_token = True
    call = await call_in(fake, customer)
    assert await call.ended(timeout=5) == "failed"
    assert customer.requests[0][2] is False
    assert call.http_status == 403 and call.errors[0].code == 11200
    assert customer.ws_count == 0
    # The final status callback was forged too: refused, and reported as Twilio would.
    assert [(path, signed) for path, _, signed in customer.requests] == [
        ("/voice", False),
        ("/status", False),
    ]
    assert not customer.callbacks and call.errors[-1].code == 15003
    with pytest.raises(StreamClosed):
        await call.connected(timeout=1)


async def test_unparseable_twiml_is_an_application_error(
    fake: FakeTwilio, customer: Customer, http: aiohttp.ClientSession
) -> None:
    customer.voice_body = "<Response><Connect><Stream/></Connect></Response>"
    # The command line's way in: the control route places the inbound call.
    resp = await http.post(
        f"{fake.base_url}/_fake/twilio/calls",
        json={"voice_url": customer.url("/voice"), "to": NUMBER, "account_sid": ACCOUNT},
    )
    assert resp.status == 201
    call = fake.calls[(await resp.json())["sid"]]
    assert await call.ended(timeout=5) == "failed"
    assert call.errors[0].code == 12200
    listed = await (await http.get(f"{fake.base_url}/_fake/twilio/calls")).json()
    assert listed[0]["status"] == "failed" and listed[0]["errors"][0]["code"] == 12200


async def test_a_dropped_line_ends_without_stop(fake: FakeTwilio, customer: Customer) -> None:
    customer.voice_body = customer.connect_twiml(action=False)
    call = await call_in(fake, customer)
    phone = await call.connected(timeout=5)
    await customer.expect("media")
    await phone.drop()
    await asyncio.wait_for(customer.ws_done.wait(), 5)
    assert not customer.events("stop")
    assert customer.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE
    assert phone.closed_by == "dropped"
    assert await call.ended(timeout=5) == "completed"
    assert call.end_reason == "the line dropped"


# --- outbound ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "statuses"),
    [("busy", ["initiated", "busy"]), ("no-answer", ["initiated", "ringing", "no-answer"])],
)
async def test_an_unanswered_outbound_call(
    fake: FakeTwilio,
    customer: Customer,
    http: aiohttp.ClientSession,
    behaviour: str,
    statuses: list[str],
) -> None:
    callee = "+15557770002"
    fake.callee_behaviour[callee] = behaviour
    form = [
        ("To", callee),
        ("From", NUMBER),
        ("Url", customer.url("/voice")),
        ("StatusCallback", customer.url("/status")),
        ("StatusCallbackEvent", "initiated ringing"),
        ("StatusCallbackEvent", "answered"),
        ("StatusCallbackEvent", "completed"),
        ("Timeout", "20"),
    ]
    resp = await http.post(calls_url(fake), data=form)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["sid"].startswith("CA") and len(created["sid"]) == 34
    assert (created["status"], created["direction"]) == ("queued", "outbound-api")
    assert (created["to"], created["from"], created["account_sid"]) == (callee, NUMBER, ACCOUNT)
    assert created["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{created['sid']}.json"

    call = await fake.wait_for_call(to=callee, timeout=5)
    assert call.sid == created["sid"] and call.timeout == 20
    assert await call.ended(timeout=5) == behaviour
    assert [c["CallStatus"] for c in customer.callbacks] == statuses
    assert [c["SequenceNumber"] for c in customer.callbacks] == [
        str(i) for i in range(len(statuses))
    ]
    assert customer.callbacks[-1]["CallDuration"] == "0"
    assert [p for p, _, _ in customer.requests] == ["/status"] * len(statuses)
    assert customer.ws_count == 0
    fetched = await (await http.get(calls_url(fake).replace(".json", f"/{call.sid}.json"))).json()
    assert fetched["status"] == behaviour


async def test_an_answered_outbound_call_asks_its_url_and_the_caller_hangs_up(
    fake: FakeTwilio, customer: Customer, http: aiohttp.ClientSession
) -> None:
    customer.voice_body = customer.connect_twiml(action=True)
    form = {"To": "+15557770001", "From": NUMBER, "Url": customer.url("/voice")}
    form["StatusCallback"] = customer.url("/status")
    assert (await http.post(calls_url(fake), data=form)).status == 201
    call = await fake.wait_for_call(to="+15557770001")
    phone = await call.connected(timeout=5)
    _, voice, signed = customer.requests[0]
    assert signed and (voice["CallStatus"], voice["Direction"]) == ("in-progress", "outbound-api")
    assert (voice["From"], voice["To"]) == (NUMBER, "+15557770001")

    await phone.hang_up()
    stop = (await customer.expect("stop")).data
    assert stop["stop"] == {"accountSid": ACCOUNT, "callSid": call.sid}
    await asyncio.wait_for(customer.ws_done.wait(), 5)
    assert customer.close_code == aiohttp.WSCloseCode.OK
    assert await call.ended(timeout=5) == "completed"
    assert call.end_reason == "the caller hung up"
    # No action URL once the caller has gone; by default only the final status is reported.
    assert [p for p, _, _ in customer.requests] == ["/voice", "/status"]
    assert [c["CallStatus"] for c in customer.callbacks] == ["completed"]
    with pytest.raises(StreamClosed):
        await phone.say(*speech("Anyone there?"))


async def test_a_live_outbound_call_is_redirected_then_hung_up_through_the_api(
    fake: FakeTwilio, customer: Customer, http: aiohttp.ClientSession
) -> None:
    twiml = customer.connect_twiml(action=False)
    form = {
        "To": "+15557770001",
        "From": NUMBER,
        "Twiml": twiml,
        "StatusCallback": customer.url("/status"),
        "StatusCallbackEvent": ALL_EVENTS,
    }
    resp = await http.post(calls_url(fake), data=form)
    assert resp.status == 201
    call = await fake.wait_for_call(to="+15557770001")
    phone = await call.connected(timeout=5)
    assert (await customer.expect("start")).data["start"]["customParameters"] == {"token": "abc"}
    assert phone.start_parameters == {"token": "abc"}
    call_url = calls_url(fake).replace(".json", f"/{call.sid}.json")
    assert (await (await http.get(call_url)).json())["status"] == "in-progress"

    # New TwiML: the open stream gets stop and closes, then the new document runs.
    redirect = "<Response><Say>One moment.</Say>" + twiml.removeprefix("<Response>")
    resp = await http.post(call_url, data={"Twiml": redirect})
    assert resp.status == 200 and (await resp.json())["sid"] == call.sid
    stop = (await customer.expect("stop")).data
    assert stop["stop"]["callSid"] == call.sid and stop["streamSid"] == phone.stream_sid
    second = await call.connected(timeout=5)
    assert second is not phone and phone.closed_by == "twilio"
    assert (await customer.expect("start")).data["streamSid"] == second.stream_sid
    assert customer.ws_count == 2
    kinds = [e.kind for e in call.events if e.kind in ("connect", "stream-ended", "say")]
    assert kinds == ["connect", "stream-ended", "say", "connect"]

    resp = await http.post(call_url, data={"Twiml": "<Response><Hangup/></Response>"})
    assert resp.status == 200
    assert (await customer.expect("stop")).data["streamSid"] == second.stream_sid
    assert await call.ended(timeout=5) == "completed"
    assert second.closed_by == "twilio" and call.end_reason == "<Hangup>"
    statuses = [c["CallStatus"] for c in customer.callbacks]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert "CallDuration" in customer.callbacks[-1]

    # An ended call cannot be redirected; an unknown one is not found.
    resp = await http.post(call_url, data={"Twiml": "<Response><Hangup/></Response>"})
    assert resp.status == 400 and (await resp.json())["code"] == 21220
    unknown = call_url.replace(call.sid, "CA" + "0" * 32)
    resp = await http.post(unknown, data={"Status": "completed"})
    assert resp.status == 404 and (await resp.json())["code"] == 20404


# --- REST: credentials, validation, faults --------------------------------------------------


async def test_rest_credentials_and_validation(fake: FakeTwilio) -> None:
    account_url = f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT}.json"
    refused: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer x"},
        basic(ACCOUNT, "wrong"),
        basic(OTHER_ACCOUNT, OTHER_TOKEN),  # good credentials, another account's path
    ]
    async with aiohttp.ClientSession() as client:
        for headers in refused:
            resp = await client.get(account_url, headers=headers)
            assert resp.status == 401
            body = await resp.json()
            assert (body["code"], body["message"], body["status"]) == (20003, "Authenticate", 401)
            assert body["more_info"] == "https://www.twilio.com/docs/errors/20003"
        good = basic(ACCOUNT, TOKEN)
        account = await (await client.get(account_url, headers=good)).json()
        assert (account["sid"], account["status"], account["type"]) == (ACCOUNT, "active", "Full")
        for form, code in (({"From": NUMBER, "Url": "http://x/"}, 21201), ({"To": NUMBER}, 21213)):
            resp = await client.post(calls_url(fake), data=form, headers=good)
            assert resp.status == 400 and (await resp.json())["code"] == code


async def test_faults_make_the_api_fail_or_unreachable(
    fake: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    form = {"To": "+15557770009", "From": NUMBER, "Twiml": "<Response/>"}
    fake.set_fault("create_call", status=503, times=1)
    resp = await http.post(calls_url(fake), data=form)
    assert resp.status == 503 and (await resp.json())["code"] == 20503
    resp = await http.post(calls_url(fake), data=form)
    assert resp.status == 201
    fake.set_fault("create_call", drop_after_chunks=0)
    with pytest.raises(aiohttp.ClientError):
        await http.post(calls_url(fake), data=form)
    assert [r.status for r in fake.state.requests if r.route == "create_call"] == [503, 201, None]
