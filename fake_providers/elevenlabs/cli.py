"""``python -m fake_providers.elevenlabs``: the fake ElevenLabs on a port until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from fake_providers.elevenlabs.server import FakeElevenLabs
from fake_providers.server import serve_forever


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fake_providers.elevenlabs", description="A local fake ElevenLabs API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--tts-ttfb-ms", type=float, default=0.0)
    parser.add_argument("--stt-final-ms", type=float, default=0.0)
    parser.add_argument("--stt-partial-interval-ms", type=float, default=500.0)
    parser.add_argument("--audio-chunk-ms", type=float, default=200.0)
    parser.add_argument(
        "--fixed-transcript", default=None, help="answer STT with this text instead of Whisper"
    )
    parser.add_argument(
        "--valid-key",
        action="append",
        default=None,
        help="accept only these API keys (repeatable; default: any non-empty key)",
    )
    parser.add_argument("--character-limit", type=int, default=100_000)
    parser.add_argument("--tier", default="creator")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = FakeElevenLabs(
        valid_keys=args.valid_key,
        fixed_transcript=args.fixed_transcript,
        tts_ttfb_ms=args.tts_ttfb_ms,
        stt_final_ms=args.stt_final_ms,
        stt_partial_interval_ms=args.stt_partial_interval_ms,
        audio_chunk_ms=args.audio_chunk_ms,
        tier=args.tier,
        character_limit=args.character_limit,
    )

    serve_forever(server, args.host, args.port)
