"""``python -m fake_providers.openai``: the fake OpenAI on a port until Ctrl-C."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from fake_providers.openai.server import FakeOpenAI
from fake_providers.server import serve_forever


def _parse_trigger(values: list[str]) -> tuple[str, tuple[str, dict[str, Any]]]:
    phrase, name, arguments = values
    return phrase, (name, json.loads(arguments))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fake_providers.openai", description="Local fake OpenAI API server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="chat time to first token")
    parser.add_argument("--token-ms", type=float, default=0.0, help="delay between chat tokens")
    parser.add_argument(
        "--prefill-ms-per-1k",
        type=float,
        default=0.0,
        help="time to first token per 1k prompt tokens",
    )
    parser.add_argument("--stt-ms", type=float, default=0.0, help="minimum transcription time")
    parser.add_argument("--tts-ttfb-ms", type=float, default=0.0, help="speech time to first byte")
    parser.add_argument(
        "--fixed-transcript", default=None, help="answer transcriptions with TEXT (no Whisper)"
    )
    parser.add_argument(
        "--api-key", action="append", default=None, help="accepted key (repeat); default any"
    )
    parser.add_argument("--reply", action="append", default=None, help="scripted reply (repeat)")
    parser.add_argument(
        "--always-reply", default=None, metavar="TEXT", help="answer every completion with TEXT"
    )
    parser.add_argument(
        "--tool-trigger",
        nargs=3,
        action="append",
        default=[],
        metavar=("PHRASE", "TOOL", "ARGS_JSON"),
        help="call TOOL with ARGS_JSON when the user says PHRASE (repeat)",
    )
    args = parser.parse_args(argv)

    server = FakeOpenAI(
        api_keys=args.api_key,
        replies=(lambda _messages: args.always_reply) if args.always_reply else args.reply,
        tool_triggers=dict(_parse_trigger(t) for t in args.tool_trigger),
        ttft_ms=args.ttft_ms,
        token_ms=args.token_ms,
        prefill_ms_per_1k=args.prefill_ms_per_1k,
        stt_ms=args.stt_ms,
        tts_ttfb_ms=args.tts_ttfb_ms,
        fixed_transcript=args.fixed_transcript,
    )

    serve_forever(server, args.host, args.port)
