"""A local Twilio Programmable Voice: the REST calls, signed webhooks and bidirectional Media
Streams a phone gateway talks to, with a test-driven phone at the caller's end.

Base URL ``http://127.0.0.1:PORT`` (Twilio's paths begin with ``/2010-04-01``); accounts are
``FakeTwilio(accounts={"AC...": "auth token"})``. Run it with
``python -m fake_providers.twilio --port 8792 --account AC...:token``.

REST (HTTP Basic ``AccountSid:AuthToken``; wrong credentials, or an account in the path other
than the one authenticated, answer 401 code 20003), with the `FakeState.faults` name of each:

===============  ================================================================================
``account``      ``GET /2010-04-01/Accounts/{AccountSid}.json``
``create_call``  ``POST .../Calls.json``: ``To``, ``From``, ``Url`` (+ ``Method``) or ``Twiml``,
                 ``StatusCallback``, ``StatusCallbackEvent``, ``StatusCallbackMethod``, ``Timeout``
``list_calls``   ``GET .../Calls.json`` (filters ``To``, ``From``, ``Status``)
``fetch_call``   ``GET .../Calls/{CallSid}.json``
``update_call``  ``POST .../Calls/{CallSid}.json``: redirect a live call (``Twiml`` or ``Url``) or
                 end it (``Status=completed`` / ``canceled``)
===============  ================================================================================

A fault's ``status`` answers Twilio's error JSON (code 20000 + status) instead, ``latency_ms``
delays the answer, and ``drop_after_chunks`` (any value) cuts the connection unanswered.

Every request the fake sends (voice webhook, action URLs, status callbacks, the media-stream
handshake) carries ``X-Twilio-Signature`` (`signature`); ``fake.sign_with_wrong_token = True``
forges them. An outbound call plays the callee ``fake.callee_behaviour.get(to, "answer")``:
``answer``, ``busy``, ``no-answer`` or ``failed``; ``place_inbound_call`` makes someone call a
number (also ``POST /_fake/twilio/calls``; ``GET`` lists calls, ``POST /_fake/twilio/config``
sets behaviours). Calls run TwiML (`twiml`): ``<Connect><Stream>`` opens the media stream whose
caller is a `FakePhone` (``await call.connected()``), ``<Dial>`` records ``call.dialed``,
``<Hangup>``, ``<Reject>``, ``<Redirect>``; ``<Say>`` and ``<Pause>`` are recorded only.

The modules: `protocol` (vocabulary), `signature`, `twiml`, `audio`, `phone` (the media stream),
`call` (what a test inspects), `webhooks` (signed requests), `flow` (a call's life), `core`,
`rest` and `server` (the HTTP side), `cli`.
"""

from fake_providers.twilio.audio import SPEECH_RMS, speech
from fake_providers.twilio.call import CallError, CallEvent, FakeCall, SentRequest
from fake_providers.twilio.cli import main
from fake_providers.twilio.phone import Clear, FakePhone, Heard, Said, StreamClosed
from fake_providers.twilio.protocol import (
    API_VERSION,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    SIGNATURE_HEADER,
    error_body,
)
from fake_providers.twilio.server import FakeTwilio, call_summary
from fake_providers.twilio.signature import compute_signature, validate_signature
from fake_providers.twilio.twiml import TwimlError, parse_twiml

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "SIGNATURE_HEADER",
    "SPEECH_RMS",
    "CallError",
    "CallEvent",
    "Clear",
    "FakeCall",
    "FakePhone",
    "FakeTwilio",
    "Heard",
    "Said",
    "SentRequest",
    "StreamClosed",
    "TwimlError",
    "call_summary",
    "compute_signature",
    "error_body",
    "main",
    "parse_twiml",
    "speech",
    "validate_signature",
]
