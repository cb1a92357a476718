#!/opt/venv/bin/python
"""The image's entrypoint: `voice-agents ROLE [ARGS...]`.

roles:
  worker          the voice worker (python -m agent_worker start)
  control-plane   the REST API (python -m control_plane serve)
  phone-gateway   the phone gateway (python -m telephony): Twilio's media streams <-> rooms
  llm             the embedded LLM server: llama.cpp's OpenAI-compatible server with the
                  packaged model, on LLM_HOST:LLM_PORT (0.0.0.0:8088)
  admin ARGS      the admin commands (python -m control_plane ARGS: create-company, migrate...)
  check           the worker's start-up checks (its models; with --livekit, livekit-server)
  healthcheck     whether the role this container runs is healthy (the image's HEALTHCHECK);
                  `healthcheck ROLE` asks about ROLE
Anything else runs as a command (`voice-agents bash`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

PYTHON = sys.executable
ROLE_FILE = Path(os.environ.get("TMPDIR", "/tmp")) / "voice-agents.role"

LLM_VARIABLES = {
    "LLM_HOST": "0.0.0.0",
    "LLM_PORT": "8088",
    "LLM_THREADS": "2",
    "LLM_CONTEXT": "2048",
    "LLM_MODEL_PATH": "",
}
"""The `llm` role's settings and their defaults (LLM_MODEL_PATH: any GGUF file instead of the
packaged SmolLM2-135M-Instruct)."""


def _llm_setting(name: str) -> str:
    return os.environ.get(name) or LLM_VARIABLES[name]


def worker(args: list[str]) -> list[str]:
    return [PYTHON, "-m", "agent_worker", "start", *args]


def control_plane(args: list[str]) -> list[str]:
    return [PYTHON, "-m", "control_plane", "serve", *args]


def phone_gateway(args: list[str]) -> list[str]:
    return [PYTHON, "-m", "telephony", *args]


def llm(args: list[str]) -> list[str]:
    from pipelines import PipelineSetupError, llama_server_command

    try:
        command = llama_server_command(
            host=_llm_setting("LLM_HOST"),
            port=int(_llm_setting("LLM_PORT")),
            n_threads=int(_llm_setting("LLM_THREADS")),
            n_ctx=int(_llm_setting("LLM_CONTEXT")),
            model_path=_llm_setting("LLM_MODEL_PATH") or None,
        )
    except PipelineSetupError as exc:  # a missing model: one line, not a trace
        raise SystemExit(f"error: {exc}") from None
    return [*command, *args]


def admin(args: list[str]) -> list[str]:
    return [PYTHON, "-m", "control_plane", *args]


def check(args: list[str]) -> list[str]:
    return [PYTHON, "-m", "agent_worker.preflight", *args]


ROLES: dict[str, Callable[[list[str]], list[str]]] = {
    "worker": worker,
    "control-plane": control_plane,
    "phone-gateway": phone_gateway,
    "llm": llm,
    "admin": admin,
    "check": check,
}
"""Each role's command line; the long-running ones are recorded for `healthcheck`."""

SERVICES = ("worker", "control-plane", "phone-gateway", "llm")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _port(name: str, default: str) -> str:
    return os.environ.get(name) or default


def health_urls(role: str) -> list[str]:
    """The URLs that answer 200 while `role` is healthy; the first that exists counts."""
    if role == "worker":
        # livekit-agents' health server: 503 when the worker lost livekit-server.
        return [f"http://127.0.0.1:{_port('WORKER_HTTP_PORT', '8081')}/"]
    if role == "control-plane":
        # /health is 503 when the database is unreachable; /openapi.json where it is missing.
        base = f"http://127.0.0.1:{_port('CONTROL_PLANE_PORT', '8000')}"
        return [f"{base}/health", f"{base}/openapi.json"]
    if role == "phone-gateway":
        return [f"http://127.0.0.1:{_port('GATEWAY_PORT', '8765')}/health"]
    if role == "llm":
        return [f"http://127.0.0.1:{_port('LLM_PORT', LLM_VARIABLES['LLM_PORT'])}/v1/models"]
    return []


def healthcheck(role: str | None = None) -> int:
    """0 when `role` (default: the role this container started) answers, or when there is
    nothing to check; else 1."""
    if role is None:
        try:
            role = ROLE_FILE.read_text().strip()
        except OSError:
            return 0
    if role == "worker" and _port("WORKER_HTTP_PORT", "8081") == "0":
        return 0  # a health port chosen at random cannot be asked
    for url in health_urls(role):
        status = _status(url)
        if status == 404:
            continue
        print(f"{role}: {url} -> {status or 'no answer'}")
        return 0 if status == 200 else 1
    return 0 if not health_urls(role) else 1


def main(argv: list[str]) -> int:
    role, args = (argv[0], argv[1:]) if argv else ("worker", [])
    if role == "healthcheck":
        return healthcheck(*args[:1])
    if role in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if role not in ROLES:
        try:
            os.execvp(role, argv)
        except OSError as exc:
            print(f"error: {role!r} is neither a role ({', '.join(ROLES)}) nor a command: {exc}")
            return 127
    command = ROLES[role](args)
    if role in SERVICES:
        # On a read-only /tmp the health check has nothing to check.
        with contextlib.suppress(OSError):
            ROLE_FILE.write_text(role)
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
