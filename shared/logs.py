"""How the control plane and the worker write their logs: plain lines, or one JSON object per
line (`LOG_FORMAT=json`) for a log pipeline to index.

A JSON line holds `time` (ISO 8601, UTC), `level`, `logger` and `message`, then the fields the
code passed with `extra=` (a call's `room`, a provider's `component`...), and `exc_info` with
the traceback when there is one; python-json-logger encodes it. A text line is
`time level logger message`, followed by those fields as JSON when there are any.

In either format the deployment's secrets (`secret_values`) and anything shaped like an OpenAI
or ElevenLabs key are masked in the finished line, traceback included.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Literal, TypeAlias

from pydantic import SecretStr
from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter

LogFormat: TypeAlias = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS = {"levelname": "level", "name": "logger"}
"""Record attributes written in every JSON line, under these names (besides `time` and
`message`)."""
NOT_FIELDS = (*RESERVED_ATTRS, "taskName", "color_message")
"""Record attributes that are not fields passed by the code (`color_message` is uvicorn's
coloured copy of the message)."""

MASK = "***"
KEY_SHAPED = re.compile(r"\b(sk[-_])[A-Za-z0-9_-]{16,}")
"""OpenAI keys (`sk-...`, `sk-proj-...`) and ElevenLabs keys (`sk_...`)."""
SHORTEST_SECRET = 8
"""Shorter values are not masked: they would mask ordinary words."""


def secret_values(*settings: SecretStr | None) -> list[str]:
    """The values to mask from settings holding secrets (comma-separated lists are split)."""
    values = []
    for setting in settings:
        if setting is None:
            continue
        for value in setting.get_secret_value().split(","):
            if len(value.strip()) >= SHORTEST_SECRET:
                values.append(value.strip())
    return values


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT`, then the record's extra fields as JSON when it has any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        extra = merge_record_extra(record, {}, NOT_FIELDS)
        if not extra:
            return line
        return f"{line} {json.dumps(extra, default=str, ensure_ascii=False)}"


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields=JSON_FIELDS,
        timestamp="time",
        reserved_attrs=NOT_FIELDS,
        json_ensure_ascii=False,
    )


class Masked(logging.Formatter):
    """Another formatter's lines with the secrets masked."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.inner = inner
        # Longest first: a secret containing another is masked whole.
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            line = line.replace(secret, MASK)
        return KEY_SHAPED.sub(rf"\1{MASK}", line)


def formatter(log_format: LogFormat, secrets: Iterable[str] = ()) -> logging.Formatter:
    """The formatter of `log_format`, masking `secrets`."""
    inner = json_formatter() if log_format == "json" else TextFormatter()
    return Masked(inner, secrets)


def configure(
    log_format: LogFormat, secrets: Iterable[str] = (), level: int = logging.INFO
) -> None:
    """Send every log record to stderr in `log_format` (the process's logging set up once,
    like `logging.basicConfig`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format, secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)


def reformat(log_format: LogFormat | None, secrets: Iterable[str] = ()) -> None:
    """Write the lines of the stream handlers already set up (a framework's) in `log_format`;
    None keeps their own format (with the secrets masked)."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler, logging.StreamHandler):
            continue
        if log_format is not None:
            handler.setFormatter(formatter(log_format, secrets))
        elif handler.formatter is not None and not isinstance(handler.formatter, Masked):
            handler.setFormatter(Masked(handler.formatter, secrets))
