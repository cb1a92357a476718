"""`CallFlow`: what Twilio does with one call, from ringing to its final status callback.

An outbound call is initiated, rings and is answered, or ends busy, unanswered or failed (as
the fake's ``callee_behaviour`` says); an inbound call asks the voice webhook for TwiML. Once
answered, the call runs TwiML documents one after the other: an action URL, a ``<Redirect>``
or a REST update hands over the next one. A REST update interrupts whatever runs (an open media
stream gets ``stop``), and ``Status=completed`` ends the call. Every ending sends the final
status callback; the progress events (``initiated``, ``ringing``, ``answered``) go out when
subscribed, one at a time and in order, without holding the call up.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin

import aiohttp

from fake_providers.twilio.call import FakeCall, SentRequest
from fake_providers.twilio.phone import FakePhone
from fake_providers.twilio.protocol import (
    CALLBACK_FAILURE,
    HTTP_RETRIEVAL_FAILURE,
    STREAM_HANDSHAKE_ERROR,
    new_sid,
    now_utc,
    rfc2822,
)
from fake_providers.twilio.twiml import (
    Connect,
    Dial,
    Hangup,
    OtherVerb,
    Pause,
    Redirect,
    Reject,
    Say,
    TwimlError,
    Verb,
    parse_twiml,
)
from fake_providers.twilio.webhooks import Sender

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Fetch:
    """TwiML to request from the application: `kind` names the request in `call.requests`,
    `extra` adds parameters to the call's usual ones."""

    url: str
    method: str = "POST"
    kind: str = "voice"
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Inline:
    """TwiML given in the REST request (``Twiml``)."""

    twiml: str


Source = Fetch | Inline


@dataclass(frozen=True)
class Ending:
    status: str
    reason: str


@dataclass(frozen=True)
class HangUp:
    """A REST ``Status`` update: end the call with this status."""

    status: str


class _Signal(enum.Enum):
    INTERRUPTED = enum.auto()


class CallFlow:
    """Runs one `FakeCall` (see the module docstring); `sender` sends its signed requests.

    Args:
        ring_seconds: how long the callee of an outbound call rings before answering.
        no_answer_seconds: how long an unanswered callee rings before the call gives up
            (Twilio waits ``Timeout`` seconds; the shorter of the two is used).
    """

    def __init__(
        self, call: FakeCall, sender: Sender, *, ring_seconds: float, no_answer_seconds: float
    ) -> None:
        self.call = call
        self.sender = sender
        self.ring_seconds = ring_seconds
        self.no_answer_seconds = no_answer_seconds
        self.task: asyncio.Task[None] | None = None
        self._command: Source | HangUp | None = None
        self._interrupt = asyncio.Event()
        self._callbacks: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()
        self._sequence = 0

    # --- starting, and what the REST API asks -------------------------------------------------

    def start_inbound(self, voice_url: str, method: str = "POST") -> None:
        self.task = asyncio.create_task(self._run(self._execute(Fetch(voice_url, method))))

    def start_outbound(self, behaviour: str, source: Source) -> None:
        self.task = asyncio.create_task(self._run(self._outbound(behaviour, source)))

    def redirect(self, source: Source) -> None:
        """Stop what the call does and run this TwiML instead."""
        self._command = source
        self._interrupt.set()

    def hang_up(self, status: str) -> None:
        self._command = HangUp(status)
        self._interrupt.set()

    # --- the call's life ------------------------------------------------------------------------

    async def _run(self, body: Coroutine[Any, Any, Ending]) -> None:
        worker = asyncio.create_task(self._deliver_callbacks())
        try:
            ending = await body
        except asyncio.CancelledError:
            worker.cancel()
            await self._close_phones()
            raise
        except Exception as exc:  # a fault of the fake itself: end the call visibly
            logger.exception("call %s failed in the fake", self.call.sid)
            ending = Ending("failed", f"fake error: {exc!r}")
        await self._close_phones()
        self.call.end_reason = ending.reason
        self.call.set_status(ending.status)
        self._progress("completed")
        self._callbacks.put_nowait(None)
        await worker
        self.call.mark_over()

    async def _outbound(self, behaviour: str, source: Source) -> Ending:
        call = self.call
        self._progress("initiated")
        if behaviour == "failed":
            return Ending("failed", "the number could not be reached")
        if behaviour == "busy":
            return Ending("busy", "the callee is busy")
        call.set_status("ringing")
        self._progress("ringing")
        answers = behaviour == "answer" and self.ring_seconds <= call.timeout
        ring = self.ring_seconds if answers else min(call.timeout, self.no_answer_seconds)
        rung = await self._ring(ring, source)
        if isinstance(rung, Ending):
            return rung
        if not answers:
            return Ending("no-answer", "the callee did not answer")
        self._answer()
        return await self._execute(rung)

    async def _ring(self, seconds: float, source: Source) -> Source | Ending:
        """Ring for `seconds`; a REST update meanwhile replaces the TwiML or cancels the call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            if await self._interruptible(asyncio.sleep(remaining)) is _Signal.INTERRUPTED:
                command = self._take_command()
                if isinstance(command, HangUp):
                    return Ending("canceled", "canceled through the API")
                if command is not None:
                    source = command
        return source

    def _answer(self) -> None:
        if self.call.status != "in-progress":
            self.call.set_status("in-progress")
            self._progress("answered")

    async def _execute(self, source: Source) -> Ending:
        """Run TwiML documents until one ends the call."""
        while True:
            outcome = await self._interruptible(self._document(source))
            if outcome is _Signal.INTERRUPTED:
                command = self._take_command()
                if isinstance(command, HangUp):
                    return Ending(command.status, "ended through the API")
                if command is not None:
                    source = command
                continue
            if isinstance(outcome, Ending):
                return outcome
            source = outcome

    async def _interruptible(self, coro: Coroutine[Any, Any, T]) -> T | _Signal:
        """Run `coro` until it ends or a REST update interrupts it (then it is cancelled: a
        media stream it holds is ended with ``stop`` on the way out)."""
        task = asyncio.create_task(coro)
        waiter = asyncio.create_task(self._interrupt.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            return _Signal.INTERRUPTED
        return task.result()

    def _take_command(self) -> Source | HangUp | None:
        command, self._command = self._command, None
        self._interrupt.clear()
        return command

    # --- TwiML ----------------------------------------------------------------------------------

    async def _document(self, source: Source) -> Source | Ending:
        """Get one TwiML document and run its verbs; the next document, or how the call ends."""
        base: str | None = None
        if isinstance(source, Inline):
            text = source.twiml
        else:
            sent = await self._request(source)
            if not sent.ok:
                return self._retrieval_failed(source, sent)
            text, base = sent.body, sent.url
        try:
            verbs = parse_twiml(text)
        except TwimlError as exc:
            self.call.add_error(exc.code, str(exc))
            return Ending("failed", f"application error: {exc}")
        for verb in verbs:
            if not isinstance(verb, Reject):
                self._answer()
            outcome = await self._run_verb(verb, base)
            if outcome is not None:
                return outcome
        return Ending("completed", "the TwiML ended")

    async def _request(self, source: Fetch) -> SentRequest:
        params = self.call.request_params(**source.extra)
        return await self.sender.send(self.call, source.kind, source.url, source.method, params)

    def _retrieval_failed(self, source: Fetch, sent: SentRequest) -> Ending:
        self.call.http_status = sent.status
        answer = f"HTTP {sent.status}" if sent.status is not None else sent.error
        self.call.add_error(HTTP_RETRIEVAL_FAILURE, f"{source.kind} {sent.url}: {answer}")
        return Ending("failed", "application error: HTTP retrieval failure")

    async def _run_verb(self, verb: Verb, base: str | None) -> Source | Ending | None:
        """Run one verb: None goes on with the next verb of the document."""
        call = self.call
        if isinstance(verb, Connect):
            return await self._connect(verb, base)
        if isinstance(verb, Dial):
            return self._dial(verb, base)
        if isinstance(verb, Hangup):
            call.record("hangup")
            return Ending("completed", "<Hangup>")
        if isinstance(verb, Reject):
            call.record("reject", reason=verb.reason)
            if call.answered_at is not None:
                return Ending("completed", "<Reject> after the answer")
            return Ending("busy" if verb.reason == "busy" else "failed", f"<Reject {verb.reason}>")
        if isinstance(verb, Redirect):
            call.record("redirect", url=verb.url)
            return Fetch(_resolve(base, verb.url), verb.method, "redirect")
        if isinstance(verb, Say):
            call.record("say", text=verb.text)
        elif isinstance(verb, Pause):
            call.record("pause", length=verb.length)
        elif isinstance(verb, OtherVerb):
            call.record("skipped", verb=verb.name, attributes=verb.attributes)
        return None

    def _dial(self, verb: Dial, base: str | None) -> Source | None:
        """Record the transfer; nobody is bridged, so the dialled leg ends at once."""
        self.call.dialed = verb.target
        self.call.record("dial", target=verb.target, noun=verb.noun, caller_id=verb.caller_id)
        if verb.action is None:
            return None
        extra = {"DialCallStatus": "completed", "DialCallSid": new_sid("CA")}
        extra["DialCallDuration"] = "0"
        return Fetch(_resolve(base, verb.action), verb.method, "dial-action", extra)

    async def _connect(self, verb: Connect, base: str | None) -> Source | Ending | None:
        """``<Connect><Stream>``: the phone talks over the media stream until it ends."""
        call, stream = self.call, verb.stream
        headers = self.sender.stream_headers(call.account_sid, stream.url)
        phone = FakePhone(
            url=stream.url,
            account_sid=call.account_sid,
            call_sid=call.sid,
            session=self.sender.session,
            parameters=stream.parameters,
            headers=headers,
        )
        call.record("connect", url=stream.url, stream_sid=phone.stream_sid)
        if not await self._open(phone, headers):
            return self._after_stream(verb, base)
        call.add_phone(phone)
        try:
            await phone.closed.wait()
        finally:
            await phone.aclose()
            call.record("stream-ended", stream_sid=phone.stream_sid, by=phone.closed_by)
        if phone.closed_by == "caller":
            return Ending("completed", "the caller hung up")
        if phone.closed_by == "dropped":
            return Ending("completed", "the line dropped")
        return self._after_stream(verb, base)

    async def _open(self, phone: FakePhone, headers: dict[str, str]) -> bool:
        signature = headers["X-Twilio-Signature"]
        try:
            await phone.open()
        except asyncio.CancelledError:
            await phone.aclose()
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            status = exc.status if isinstance(exc, aiohttp.ClientResponseError) else None
            error = f"{type(exc).__name__}: {exc}"
            self.call.requests.append(
                SentRequest("stream", "GET", phone.url, {}, signature, status, error=error)
            )
            self.call.add_error(STREAM_HANDSHAKE_ERROR, f"stream {phone.url}: {error}")
            return False
        self.call.requests.append(SentRequest("stream", "GET", phone.url, {}, signature, 101))
        return True

    def _after_stream(self, verb: Connect, base: str | None) -> Source | None:
        if verb.action is None:
            return None
        return Fetch(_resolve(base, verb.action), verb.method, "action")

    # --- status callbacks -----------------------------------------------------------------------

    def _progress(self, event: str) -> None:
        """Queue the status callback of `event` if subscribed (the final one always is)."""
        call = self.call
        if not call.status_callback or event not in call.status_callback_events:
            return
        params = call.request_params(
            CallbackSource="call-progress-events",
            SequenceNumber=str(self._sequence),
            Timestamp=rfc2822(now_utc()) or "",
        )
        if event == "initiated":
            params["CallStatus"] = "initiated"
        if event == "completed":
            params["CallDuration"] = str(call.duration)
            params["Duration"] = str(math.ceil(call.duration / 60))
        self._sequence += 1
        self._callbacks.put_nowait(params)

    async def _deliver_callbacks(self) -> None:
        call = self.call
        while (params := await self._callbacks.get()) is not None:
            assert call.status_callback is not None
            sent = await self.sender.send(
                call, "status-callback", call.status_callback, call.status_callback_method, params
            )
            if not sent.ok:
                answer = f"HTTP {sent.status}" if sent.status is not None else sent.error
                call.add_error(CALLBACK_FAILURE, f"status callback {sent.url}: {answer}")

    async def _close_phones(self) -> None:
        for phone in self.call.phones:
            await phone.aclose()


def _resolve(base: str | None, url: str) -> str:
    """An action or redirect URL, relative ones resolved against the document's URL."""
    return urljoin(base, url) if base else url
