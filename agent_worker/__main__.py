"""`python -m agent_worker {start,dev,console,...}`: the livekit-agents CLI around our server."""

from __future__ import annotations

import os
import sys

from livekit.agents import cli

from pipelines.errors import PipelineSetupError

_NEEDS_SERVER = {"start", "dev", "connect"}


_CONSOLE_DEVICES = (
    ("CONSOLE_INPUT_DEVICE", "--input-device"),
    ("CONSOLE_OUTPUT_DEVICE", "--output-device"),
)


def console_devices_from_env() -> None:
    """The console's audio devices from the environment (`make console
    CONSOLE_INPUT_DEVICE=3`): an ID or a name substring, as `console --list-devices` shows
    them. Put right after `console`, so that the same option given on the command line wins."""
    at = sys.argv.index("console") + 1
    for name, option in _CONSOLE_DEVICES:
        if device := os.environ.get(name, "").strip():
            sys.argv[at:at] = [option, device]


def main() -> None:
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    if command == "console":
        # Local microphone session: no health endpoint, so it can run beside a worker.
        os.environ["WORKER_HTTP_PORT"] = "0"
        console_devices_from_env()
    try:
        from .main import create_server, settings
        from .preflight import check_livekit, check_models

        check_models(settings)
        if command in _NEEDS_SERVER:
            check_livekit(settings, float(os.environ.get("LIVEKIT_WAIT_SECONDS", "10")))
        server = create_server()
    except PipelineSetupError as exc:
        sys.exit(f"error: {exc}")
    cli.run_app(server)


if __name__ == "__main__":
    main()
