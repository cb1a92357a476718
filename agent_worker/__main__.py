"""`python -m agent_worker {start,dev,console,...}`: the livekit-agents CLI around our server."""

from __future__ import annotations

import sys

from livekit.agents import cli

from pipelines.errors import PipelineSetupError


def main() -> None:
    try:
        from .main import create_server

        server = create_server()
    except PipelineSetupError as exc:
        sys.exit(f"error: {exc}")
    cli.run_app(server)


if __name__ == "__main__":
    main()
