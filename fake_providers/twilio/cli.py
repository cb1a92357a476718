"""``python -m fake_providers.twilio``: the fake Twilio on a port until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from fake_providers.server import serve_forever
from fake_providers.twilio.server import FakeTwilio


def _account(value: str) -> tuple[str, str]:
    sid, sep, token = value.partition(":")
    if not sep or not sid.startswith("AC") or not token:
        raise argparse.ArgumentTypeError("expected ACCOUNT_SID:AUTH_TOKEN")
    return sid, token


def _callee(value: str) -> tuple[str, str]:
    number, sep, behaviour = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected NUMBER=answer|busy|no-answer|failed")
    return number, behaviour


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fake_providers.twilio",
        description="A local fake Twilio: REST calls, signed webhooks, media streams.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8792)
    parser.add_argument(
        "--account",
        type=_account,
        action="append",
        default=None,
        metavar="SID:TOKEN",
        help="an account and its auth token (repeatable; default: one test account)",
    )
    parser.add_argument(
        "--callee",
        type=_callee,
        action="append",
        default=[],
        metavar="NUMBER=BEHAVIOUR",
        help="how the callee of an outbound call to NUMBER behaves (repeatable)",
    )
    parser.add_argument("--ring-seconds", type=float, default=0.05)
    parser.add_argument("--no-answer-seconds", type=float, default=0.3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = FakeTwilio(
        accounts=dict(args.account) if args.account else None,
        callee_behaviour=dict(args.callee),
        ring_seconds=args.ring_seconds,
        no_answer_seconds=args.no_answer_seconds,
    )
    serve_forever(server, args.host, args.port)
