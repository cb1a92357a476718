"""The phone line's pieces that need no network: Twilio's signatures and TwiML, its
media-stream messages."""

from __future__ import annotations

import base64
import json
from xml.etree import ElementTree

import pytest

from telephony import media, twilio


def test_signature_is_twilios_documented_example():
    # Twilio's "Webhooks security" page: this token, URL and form sign to this value.
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio.signature("12345", url, params) == expected
    assert twilio.signature_is_valid("12345", url, list(reversed(params)), expected)
    assert not twilio.signature_is_valid("12346", url, params, expected)
    assert not twilio.signature_is_valid("12345", url + "&x=1", params, expected)
    assert not twilio.signature_is_valid("12345", url, params[:-1], expected)
    assert not twilio.signature_is_valid("12345", url, params, None)


def test_connect_stream_names_the_gateway_its_parameters_and_what_follows():
    document = twilio.connect_stream(
        "wss://phone.example.com/twilio/media",
        {"token": "a&b<c>", "conversation_id": "conv_1"},
        action="https://voice.example.com/telephony/twilio/after-stream?conversation_id=conv_1",
    )
    root = ElementTree.fromstring(document)
    connect = root.find("Connect")
    assert connect is not None and connect.get("action", "").endswith("conversation_id=conv_1")
    stream = connect.find("Stream")
    assert stream is not None and stream.get("url") == "wss://phone.example.com/twilio/media"
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {
        "token": "a&b<c>",  # escaped in the document, intact once parsed
        "conversation_id": "conv_1",
    }
    assert ElementTree.fromstring(twilio.dial("+15550002222")).findtext("Dial") == "+15550002222"
    assert ElementTree.fromstring(twilio.hang_up()).find("Hangup") is not None
    assert ElementTree.fromstring(twilio.reject("busy")).find("Reject").get("reason") == "busy"


def test_media_messages_both_ways():
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ1",
        "start": {
            "accountSid": "AC1",
            "callSid": "CA1",
            "streamSid": "MZ1",
            "tracks": ["inbound"],
            "customParameters": {"token": "t"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    parsed = media.start_of(media.parse(json.dumps(start)))
    assert (parsed.stream_sid, parsed.call_sid, parsed.parameters) == ("MZ1", "CA1", {"token": "t"})
    chunk = bytes(range(160))
    message = {"event": "media", "media": {"payload": base64.b64encode(chunk).decode()}}
    assert media.payload_of(media.parse(json.dumps(message))) == chunk
    assert media.digit_of({"event": "dtmf", "dtmf": {"digit": "#"}}) == "#"
    assert media.DTMF_CODES["#"] == 11 and media.DTMF_CODES["*"] == 10
    sent = json.loads(media.media("MZ1", chunk))
    assert sent["streamSid"] == "MZ1" and base64.b64decode(sent["media"]["payload"]) == chunk
    assert json.loads(media.clear("MZ1")) == {"event": "clear", "streamSid": "MZ1"}
    assert json.loads(media.mark("MZ1", "200"))["mark"] == {"name": "200"}


@pytest.mark.parametrize(
    "raw",
    ["not json", "[]", '{"no": "event"}'],
)
def test_a_message_that_is_not_one_is_refused_clearly(raw):
    with pytest.raises(media.MediaProtocolError):
        media.parse(raw)


def test_bad_media_payloads_and_digits_are_refused():
    with pytest.raises(media.MediaProtocolError):
        media.payload_of({"event": "media", "media": {"payload": "%%%"}})
    with pytest.raises(media.MediaProtocolError):
        media.digit_of({"event": "dtmf", "dtmf": {"digit": "x"}})
    with pytest.raises(media.MediaProtocolError):
        media.start_of({"event": "start"})
