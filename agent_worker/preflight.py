"""Checks run before the worker starts, so a misconfiguration is one clear line, not a trace."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request

from pipelines.errors import PipelineSetupError
from pipelines.models import multilingual_whisper_dir, piper_voice_path, whisper_model_dir

from .settings import Settings


class PreflightError(PipelineSetupError):
    """The worker cannot start; the message names the cause and the fix."""


def check_models(settings: Settings) -> None:
    """The local model files exist (loading them happens in the job processes)."""
    whisper_model_dir(settings.whisper_model)
    multilingual_whisper_dir(settings.whisper_multilingual_model)  # joined now if need be
    piper_voice_path(settings.piper_voice)


def check_livekit(settings: Settings, wait_seconds: float) -> None:
    """livekit-server answers at LIVEKIT_URL within `wait_seconds`."""
    http_url = settings.livekit_url.replace("ws://", "http://").replace("wss://", "https://")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with urllib.request.urlopen(http_url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered: a server is there
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() >= deadline:
                reason = getattr(exc, "reason", exc)
                raise PreflightError(
                    f"livekit-server is not reachable at {settings.livekit_url} ({reason}): "
                    "start it (`make run` starts one) or set LIVEKIT_URL"
                ) from None
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    """`python -m agent_worker.preflight [--livekit]`: the worker's start-up checks alone (the
    container image's `check` role), exit status 0 when they pass."""
    parser = argparse.ArgumentParser(prog="python -m agent_worker.preflight", description=__doc__)
    parser.add_argument(
        "--livekit", action="store_true", help="also wait for livekit-server at LIVEKIT_URL"
    )
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for it")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        check_models(settings)
        if args.livekit:
            check_livekit(settings, args.wait)
    except PipelineSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"whisper model: {whisper_model_dir(settings.whisper_model)}")
    multilingual = multilingual_whisper_dir(settings.whisper_multilingual_model)
    print(f"multilingual whisper model: {multilingual}")
    print(f"piper voice: {piper_voice_path(settings.piper_voice)}")
    if args.livekit:
        print(f"livekit-server: {settings.livekit_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
