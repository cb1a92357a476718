"""Twilio Media Streams messages: what the provider sends over the stream's websocket, and
what the gateway sends back (audio to play, marks, `clear`).

The audio both ways is G.711 mu-law at 8 kHz, mono, base64 in JSON text frames; Twilio sends
the caller's audio in 20 ms chunks (160 bytes) for as long as the call lasts.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
"""20 ms at 8 kHz: the size of each chunk both ways."""

DTMF_CODES = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    **{c: 12 + i for i, c in enumerate("ABCD")},
}
"""RFC 4733 event codes of the keypad's digits."""


class MediaProtocolError(ValueError):
    """A message that is not a Twilio media-stream message."""


@dataclass(frozen=True)
class StreamStart:
    stream_sid: str
    call_sid: str
    account_sid: str
    parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = SAMPLE_RATE


def parse(text: str | bytes) -> dict[str, Any]:
    """One message as a dict with its `event`; `MediaProtocolError` when it is not one."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MediaProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise MediaProtocolError("a message without an event")
    return message


def start_of(message: dict[str, Any]) -> StreamStart:
    """The `start` message's stream: who is calling, and the custom parameters."""
    start = message.get("start")
    if not isinstance(start, dict):
        raise MediaProtocolError("start without its `start` object")
    media_format = start.get("mediaFormat") or {}
    parameters = start.get("customParameters") or {}
    stream_sid = message.get("streamSid") or start.get("streamSid")
    if not isinstance(stream_sid, str) or not isinstance(parameters, dict):
        raise MediaProtocolError("start without a streamSid")
    return StreamStart(
        stream_sid=stream_sid,
        call_sid=str(start.get("callSid", "")),
        account_sid=str(start.get("accountSid", "")),
        parameters={str(k): str(v) for k, v in parameters.items()},
        encoding=str(media_format.get("encoding", "audio/x-mulaw")),
        sample_rate=int(media_format.get("sampleRate", SAMPLE_RATE)),
    )


def payload_of(message: dict[str, Any]) -> bytes:
    """The mu-law bytes of a `media` message."""
    media = message.get("media")
    if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
        raise MediaProtocolError("media without a payload")
    try:
        return base64.b64decode(media["payload"], validate=True)
    except ValueError:
        raise MediaProtocolError("media payload is not base64") from None


def digit_of(message: dict[str, Any]) -> str:
    dtmf = message.get("dtmf")
    digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
    if not isinstance(digit, str) or digit not in DTMF_CODES:
        raise MediaProtocolError("dtmf without a keypad digit")
    return digit


def mark_name_of(message: dict[str, Any]) -> str:
    mark = message.get("mark")
    name = mark.get("name") if isinstance(mark, dict) else None
    if not isinstance(name, str):
        raise MediaProtocolError("mark without a name")
    return name


def media(stream_sid: str, ulaw: bytes) -> str:
    """Audio for the provider to play to the caller, after what it has queued."""
    payload = base64.b64encode(ulaw).decode()
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark(stream_sid: str, name: str) -> str:
    """A mark after the queued audio: the provider sends it back once that audio played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    """Drop the audio queued for the caller (a barge-in)."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
