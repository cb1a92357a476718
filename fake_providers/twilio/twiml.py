"""TwiML, the XML a voice webhook answers with: parsed into the verbs the fake runs.

Verbs the fake acts on are `Connect` (a bidirectional media stream), `Dial`, `Hangup`,
`Reject`, `Redirect`, `Say` and `Pause` (the last two are only recorded). Every other verb
Twilio knows is recorded and skipped (`OtherVerb`); an element Twilio does not know, a
document that is not XML, or a ``<Connect>`` without a usable ``<Stream>`` is a `TwimlError`,
as Twilio's application error would be.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from fake_providers.twilio.protocol import DOCUMENT_PARSE_FAILURE, SCHEMA_VALIDATION

KNOWN_VERBS = frozenset(
    {
        "Connect",
        "Dial",
        "Echo",
        "Enqueue",
        "Gather",
        "Hangup",
        "Leave",
        "Pause",
        "Pay",
        "Play",
        "Record",
        "Redirect",
        "Refer",
        "Reject",
        "Say",
        "Sms",
        "Start",
        "Stop",
    }
)
DIAL_NOUNS = ("Number", "Sip", "Client", "Conference", "Queue", "Application")


class TwimlError(ValueError):
    """A document Twilio could not run; `code` is Twilio's error code for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Stream:
    """``<Connect><Stream url=...>``: where the media stream goes and what it carries."""

    url: str
    name: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    status_callback: str | None = None
    status_callback_method: str = "POST"


@dataclass(frozen=True)
class Connect:
    stream: Stream
    action: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Dial:
    """``<Dial>``: `target` is the number (or SIP/client address) dialled."""

    target: str
    noun: str = "Number"
    action: str | None = None
    method: str = "POST"
    caller_id: str | None = None


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str = "rejected"


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Pause:
    length: float = 1.0


@dataclass(frozen=True)
class OtherVerb:
    """A verb the fake does not simulate (``<Gather>``, ``<Play>``...): recorded, skipped."""

    name: str
    attributes: dict[str, str] = field(default_factory=dict)


Verb = Connect | Dial | Hangup | Reject | Redirect | Say | Pause | OtherVerb


def _method(element: ET.Element) -> str:
    method = element.get("method", "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(SCHEMA_VALIDATION, f"<{element.tag}> method must be GET or POST")
    return method


def _stream(connect: ET.Element) -> Stream:
    streams = [child for child in connect if child.tag == "Stream"]
    if len(streams) != 1 or len(connect) != 1:
        raise TwimlError(SCHEMA_VALIDATION, "<Connect> must hold exactly one <Stream>")
    element = streams[0]
    url = (element.get("url") or "").strip()
    if not url.startswith(("wss://", "ws://")):
        raise TwimlError(SCHEMA_VALIDATION, f"<Stream> url must be a websocket URL: {url!r}")
    parameters: dict[str, str] = {}
    for child in element:
        if child.tag != "Parameter" or child.get("name") is None:
            raise TwimlError(SCHEMA_VALIDATION, f"<Stream> cannot hold <{child.tag}>")
        parameters[child.get("name", "")] = child.get("value", "")
    return Stream(
        url=url,
        name=element.get("name"),
        parameters=parameters,
        status_callback=element.get("statusCallback"),
        status_callback_method=element.get("statusCallbackMethod", "POST").upper(),
    )


def _dial(element: ET.Element) -> Dial:
    target, noun = (element.text or "").strip(), "Number"
    for child in element:
        if child.tag not in DIAL_NOUNS:
            raise TwimlError(SCHEMA_VALIDATION, f"<Dial> cannot hold <{child.tag}>")
        if not target:
            target, noun = (child.text or "").strip(), child.tag
    if not target:
        raise TwimlError(SCHEMA_VALIDATION, "<Dial> names no one to call")
    return Dial(
        target=target,
        noun=noun,
        action=element.get("action"),
        method=_method(element),
        caller_id=element.get("callerId"),
    )


def _verb(element: ET.Element) -> Verb:
    tag = element.tag
    if tag not in KNOWN_VERBS:
        raise TwimlError(SCHEMA_VALIDATION, f"<{tag}> is not a TwiML verb")
    if tag == "Connect":
        return Connect(_stream(element), element.get("action"), _method(element))
    if tag == "Dial":
        return _dial(element)
    if tag == "Hangup":
        return Hangup()
    if tag == "Reject":
        return Reject(element.get("reason", "rejected"))
    if tag == "Redirect":
        url = (element.text or "").strip()
        if not url:
            raise TwimlError(SCHEMA_VALIDATION, "<Redirect> needs a URL")
        return Redirect(url, _method(element))
    if tag == "Say":
        return Say((element.text or "").strip())
    if tag == "Pause":
        try:
            return Pause(float(element.get("length", "1")))
        except ValueError:
            raise TwimlError(SCHEMA_VALIDATION, "<Pause> length must be a number") from None
    return OtherVerb(tag, dict(element.attrib))


def parse_twiml(text: str | bytes) -> list[Verb]:
    """The verbs of a ``<Response>`` document, in order; `TwimlError` if Twilio could not run it."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"root element is <{root.tag}>, not <Response>")
    return [_verb(element) for element in root]
