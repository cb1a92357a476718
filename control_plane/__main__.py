"""`python -m control_plane serve | migrate | new-secret | create-company | create-key | ...`"""

from __future__ import annotations

import argparse
import asyncio
import sys

from shared import logs

from .admin import add_admin_commands, run_admin
from .settings import StoreSettings, get_settings


def _serve(_args: argparse.Namespace) -> int:
    from .preflight import StartupError, check_dependencies

    settings = get_settings()
    try:  # before the app's imports, which take seconds: a missing dependency is said at once
        asyncio.run(check_dependencies(settings))
    except StartupError as exc:
        print(f"control plane: {exc}", file=sys.stderr)
        return 1

    import uvicorn

    from .api.access_log import uvicorn_log_config
    from .api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level="info",
        log_config=uvicorn_log_config(settings.log_format or "text", settings.log_secrets()),
    )
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from .store.db import create_engine
    from .store.migrate import upgrade

    async def run() -> None:
        engine = create_engine(StoreSettings().resolved_database_url())
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("database is at the newest revision")
    return 0


def _new_secret(_args: argparse.Namespace) -> int:
    from .security import new_secret

    print(new_secret())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m control_plane", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the REST API").set_defaults(run=_serve)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)
    commands.add_parser(
        "new-secret", help="print a new PROVIDER_KEYS_SECRET (a Fernet key)"
    ).set_defaults(run=_new_secret)
    add_admin_commands(commands)
    args = parser.parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_format or "text", settings.log_secrets())
    if hasattr(args, "run"):
        return args.run(args)
    return run_admin(args)


if __name__ == "__main__":
    sys.exit(main())
