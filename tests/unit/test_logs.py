"""Log lines: JSON objects with the fields a log pipeline indexes, or text lines with the
code's fields appended; the deployment's secrets masked in either."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from shared import logs

OPENAI_KEY = "sk-proj-Abc123def456ghi789jkl"
LIVEKIT_SECRET = "devsecret-0123456789abcdef"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger(f"test.logs.{id(out)}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out, handler
    logger.removeHandler(handler)


def test_a_json_line_has_time_level_logger_message_and_the_extra_fields(lines) -> None:
    logger, out, handler = lines
    handler.setFormatter(logs.formatter("json"))
    logger.info("call ended: %s", "caller_hung_up", extra={"room": "room-1", "turns": 3})
    line = json.loads(out.getvalue())
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name
    assert line["message"] == "call ended: caller_hung_up"
    assert line["room"] == "room-1" and line["turns"] == 3
    assert line["time"].endswith("+00:00")
    assert "msg" not in line and "args" not in line and "levelno" not in line


def test_an_exception_stays_on_its_json_line(lines) -> None:
    logger, out, handler = lines
    handler.setFormatter(logs.formatter("json"))
    try:
        raise ValueError("no such voice")
    except ValueError:
        logger.exception("synthesis failed")
    [text] = out.getvalue().splitlines()
    line = json.loads(text)
    assert line["level"] == "ERROR"
    assert "ValueError: no such voice" in line["exc_info"]


def test_a_text_line_ends_with_the_extra_fields(lines) -> None:
    logger, out, handler = lines
    handler.setFormatter(logs.formatter("text"))
    logger.warning("provider failed", extra={"room": "room-2"})
    logger.info("plain")
    first, second = out.getvalue().splitlines()
    assert first.endswith(f'WARNING {logger.name} provider failed {{"room": "room-2"}}')
    assert second.endswith(f"INFO {logger.name} plain")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_and_key_shaped_values_are_masked(lines, log_format: logs.LogFormat) -> None:
    logger, out, handler = lines
    secrets = logs.secret_values(SecretStr(LIVEKIT_SECRET), None, SecretStr("short"))
    handler.setFormatter(logs.formatter(log_format, secrets))
    tenant_key = "sk_0123456789abcdef0123456789abcdef"
    logger.info("rejected %s", OPENAI_KEY, extra={"secret": LIVEKIT_SECRET, "key": tenant_key})
    try:
        raise RuntimeError(f"401 for {OPENAI_KEY}")
    except RuntimeError:
        logger.exception("upstream")
    text = out.getvalue()
    for secret in (OPENAI_KEY, LIVEKIT_SECRET, tenant_key):
        assert secret not in text
    assert "sk-***" in text and "sk_***" in text and logs.MASK in text
    assert secrets == [LIVEKIT_SECRET]  # too short to mask: "short"


def test_reformat_switches_a_frameworks_handler_and_masks_its_own_format() -> None:
    root = logging.getLogger()
    out = io.StringIO()
    framework = logging.StreamHandler(out)
    framework.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
    root.addHandler(framework)
    try:
        logs.reformat(None, [LIVEKIT_SECRET])
        logging.getLogger("test.reformat").warning("secret %s", LIVEKIT_SECRET)
        assert out.getvalue() == "WARNING|secret ***\n"
        logs.reformat("json", [])
        logging.getLogger("test.reformat").warning("now json")
        assert json.loads(out.getvalue().splitlines()[1])["message"] == "now json"
    finally:
        root.removeHandler(framework)
