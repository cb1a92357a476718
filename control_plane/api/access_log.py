"""The access log without secrets: query parameters that look like credentials are masked.

Keys belong in headers, and a key sent in the query string is refused, but the server's
access log would still have written it out in the request line.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared import logs
from shared.logs import LogFormat

SECRET_NAME = re.compile(r"key|token|secret|passw|signature|auth|session", re.IGNORECASE)
MASK = "***"


def redact_path(path: str) -> str:
    """`/x?api_key=abc&limit=5` -> `/x?api_key=***&limit=5`."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(SECRET_NAME.search(name) for name, _ in pairs):
        return path
    masked = [(name, MASK if SECRET_NAME.search(name) else value) for name, value in pairs]
    return urlunsplit(parts._replace(query=urlencode(masked, safe="*")))


class RedactSecrets(logging.Filter):
    """For uvicorn's access logger, whose record args are (client, method, path, version,
    status). The request's parts are also set as the record's fields, for JSON lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        if isinstance(record.args, tuple) and len(record.args) == 5:
            record.client, record.method, record.path, _, record.status = record.args
        return True


def uvicorn_log_config(
    log_format: LogFormat = "text", secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """uvicorn's own logging configuration, with the access log redacted; in JSON, its lines
    are written as the rest of the process's (`shared.logs`)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    if log_format == "json":
        for name in config["formatters"]:
            config["formatters"][name] = {
                "()": logs.formatter,
                "log_format": "json",
                "secrets": list(secrets),
            }
    return config
