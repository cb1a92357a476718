"""Semantic end of turn, offline: what Smart Turn v3.2 (`pipelines.smart_turn`) says at the
pauses of the turn corpus, and what each turn-detection mode would then make the caller wait.

    .venv/bin/python benchmarks/smart_turn.py [--corpus DIR] [--out FILE]

The corpus is `turn_corpus.py`'s (generated on first use). For each clean clip in which a
sentence is spoken (`pause`: a sentence with a 250-600 ms pause inside, `plain`: a sentence),
the model reads the audio up to 200 ms after each pause starts (when a call asks it) and up
to 200 ms after the sentence ends:

- a pause inside the sentence that the model calls finished (probability >= the threshold) is
  a false cut-off in `semantic` mode (its 0.3 s hold ends the speech before the 400 and 600 ms
  pauses resume; the 250 ms ones do not end it);
- an end the model calls unfinished waits `max_endpointing_delay` (3 s) in `semantic` mode.

The peer in the same run is `silence` mode as a formula over the same clips: a pause
shorter than the hold (0.6 s) never ends the turn, and every end costs the hold plus
`min_endpointing_delay`. The numbers are about the corpus's voices: espeak-ng and Piper
(synthetic speech, every phrase read with a sentence's falling end), not recordings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.contract import TurnDetection  # noqa: E402
from benchmarks.turns.common import (  # noqa: E402
    load_clips,
    pct,
    quantiles,
    rate,
    table,
    write_results,
)
from benchmarks.turns.corpus import DEFAULT_OUT, ensure_corpus  # noqa: E402
from benchmarks.turns.sounds import RATE  # noqa: E402
from pipelines.smart_turn import SmartTurnModel  # noqa: E402

ASKED_AFTER_S = 0.2
"""livekit-agents asks the streaming turn detector after 200 ms of silence."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/smart_turn.json")
    args = parser.parse_args()

    defaults = TurnDetection()
    manifest = ensure_corpus(args.corpus)
    clips = [
        c
        for c in load_clips(args.corpus, manifest, quick=True)
        if c.category in ("pause", "plain") and c.snr_db is None
    ]
    model = SmartTurnModel()
    threshold = defaults.semantic_threshold
    semantic_hold = defaults.semantic_silence_duration

    def probability(samples: np.ndarray, until_s: float) -> tuple[float, float]:
        audio = (samples[: int(until_s * RATE)] / 32768).astype(np.float32)
        started = time.perf_counter()
        p = model.probability(audio)
        return p, time.perf_counter() - started

    pauses: list[dict[str, Any]] = []
    ends: list[dict[str, Any]] = []
    took: list[float] = []
    for clip in clips:
        for (_, end), (nxt, _) in zip(clip.regions, clip.regions[1:], strict=False):
            gap = nxt - end
            p, t = probability(clip.samples, end + ASKED_AFTER_S)
            took.append(t)
            pauses.append(
                {
                    "clip": clip.id,
                    "engine": clip.engine,
                    "gap_s": round(gap, 3),
                    "probability": p,
                    # the short hold ends the speech only if the pause outlasts it
                    "semantic_cut": gap >= semantic_hold and p >= threshold,
                    "silence_cut": gap >= defaults.min_silence_duration,
                }
            )
        p, t = probability(clip.samples, clip.speech_end + ASKED_AFTER_S)
        took.append(t)
        finished = p >= threshold
        ends.append(
            {
                "clip": clip.id,
                "engine": clip.engine,
                "category": clip.category,
                "probability": p,
                "finished": finished,
                "semantic_wait_s": semantic_hold
                + (defaults.min_endpointing_delay if finished else defaults.max_endpointing_delay),
                "silence_wait_s": defaults.min_silence_duration + defaults.min_endpointing_delay,
            }
        )

    results: dict[str, Any] = {
        "threshold": threshold,
        "semantic_hold_s": semantic_hold,
        "silence_hold_s": defaults.min_silence_duration,
        "max_endpointing_delay_s": defaults.max_endpointing_delay,
        "inference_s": quantiles(took),
        "by_engine": {},
        "pauses": pauses,
        "ends": ends,
    }
    rows = []
    for engine in sorted({c.engine for c in clips}):
        ps = [p for p in pauses if p["engine"] == engine]
        es = [e for e in ends if e["engine"] == engine]
        semantic_wait = quantiles([e["semantic_wait_s"] for e in es])
        silence_wait = quantiles([e["silence_wait_s"] for e in es])
        summary = {
            "pauses": len(ps),
            "pause_called_finished": rate(p["probability"] >= threshold for p in ps),
            "semantic_cut_offs": rate(p["semantic_cut"] for p in ps),
            "silence_cut_offs": rate(p["silence_cut"] for p in ps),
            "ends": len(es),
            "end_called_unfinished": rate(not e["finished"] for e in es),
            "semantic_wait_s": semantic_wait,
            "silence_wait_s": silence_wait,
        }
        results["by_engine"][engine] = summary
        rows.append(
            [
                engine,
                str(len(ps)),
                pct(rate(p["probability"] >= threshold for p in ps)),
                pct(rate(p["semantic_cut"] for p in ps)),
                pct(rate(p["silence_cut"] for p in ps)),
                str(len(es)),
                pct(rate(not e["finished"] for e in es)),
                f"{semantic_wait['p50'] or 0:.2f} / {semantic_wait['p95'] or 0:.2f}",
                f"{silence_wait['p50'] or 0:.2f}",
            ]
        )
    print(
        table(
            [
                "voice",
                "pauses",
                "pause called finished",
                "cut-offs, semantic",
                "cut-offs, silence",
                "ends",
                "end called unfinished",
                "wait at the end, semantic p50 / p95 (s)",
                "silence (s)",
            ],
            rows,
        )
    )
    inference = quantiles(took)
    print(
        f"\nSmart Turn: {len(took)} predictions, p50 {1000 * (inference['p50'] or 0):.0f} ms, "
        f"p95 {1000 * (inference['p95'] or 0):.0f} ms (one thread); threshold {threshold}, "
        f"semantic hold {semantic_hold} s, silence hold {defaults.min_silence_duration} s"
    )
    write_results(args.out, results)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
