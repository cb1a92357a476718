"""Turn-taking decisions of the VADs, offline: where they end a caller's turn, what their hold
costs before the agent may answer, and which short sounds would interrupt the agent; and in a
real room, how fast a barge-in stops the agent and what a backchannel does to its reply.

    .venv/bin/python benchmarks/turn_taking.py [--corpus DIR] [--holds 0.2,0.3,...] [--quick]
    .venv/bin/python benchmarks/turn_taking.py --in-room [--vads webrtc,silero] [--holds 0.3,0.6]
        [--min-interruptions 0.2,0.5] [--trials 6] [--turns-per-call 6]

What each run measures, and how: `turns/offline.py` (offline, over the corpus of
`turn_corpus.py`) and `turns/room.py` (in a room).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.turns.corpus import DEFAULT_OUT  # noqa: E402
from benchmarks.turns.offline import HOLDS, MIN_INTERRUPTIONS, QUICK_HOLDS, main_offline  # noqa: E402
from benchmarks.turns.room import (  # noqa: E402
    INTERJECT_AFTER,
    ROOM_HOLDS,
    ROOM_MIN_INTERRUPTIONS,
    ROOM_TRIALS,
    ROOM_VADS,
    STOP_TIMEOUT,
    TURNS_PER_CALL,
    main_room,
)
from benchmarks.turns.vads import detectors  # noqa: E402


def parse_floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--holds",
        type=parse_floats,
        help=f"min_silence_duration values, s (default {HOLDS}; in a room {ROOM_HOLDS})",
    )
    parser.add_argument(
        "--min-interruptions",
        type=parse_floats,
        help=f"seconds (default {MIN_INTERRUPTIONS}; in a room {ROOM_MIN_INTERRUPTIONS})",
    )
    parser.add_argument(
        "--vads",
        help=f"comma-separated subset of {', '.join(detectors())} (in a room: "
        f"{', '.join(ROOM_VADS)})",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"holds {QUICK_HOLDS}, clean and 10 dB clips only"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON results (default benchmarks/results/turn_taking_vad.json, in a room "
        "turn_taking_room.json)",
    )
    room = parser.add_argument_group("in a room")
    room.add_argument(
        "--in-room",
        action="store_true",
        help="measure through livekit-server and the worker instead of offline",
    )
    room.add_argument(
        "--trials",
        type=int,
        default=ROOM_TRIALS,
        help="barge-ins, and as many backchannels, per configuration",
    )
    room.add_argument(
        "--ducks",
        type=parse_floats,
        help="duck_duration values, s (default: the agent's default)",
    )
    room.add_argument("--turns-per-call", type=int, default=TURNS_PER_CALL)
    room.add_argument("--after", type=float, default=INTERJECT_AFTER, help="seconds into the reply")
    room.add_argument(
        "--stop-timeout",
        type=float,
        default=STOP_TIMEOUT,
        help="seconds after which a barge-in the agent did not stop for is missed",
    )
    room.add_argument("--seed", type=int, default=0, help="which corpus clips are said")
    args = parser.parse_args()
    if args.in_room:
        main_room(args, parser)
        return
    main_offline(args, parser)


if __name__ == "__main__":
    main()
