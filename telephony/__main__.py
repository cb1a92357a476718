"""`python -m telephony`: the phone gateway (see `telephony.gateway`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shared import logs

from .gateway import serve
from .settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    logs.configure(settings.log_format, level=getattr(logging, settings.log_level.upper()))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
