"""The offline run: turn-taking decisions of the VADs over the corpus, without a room.

Each VAD (our WebRTC VAD at aggressiveness 0-3, Silero with its package defaults) runs at each
hold (`min_silence_duration`) over the corpus of `turn_corpus.py` (generated on first use): the
clip goes into `vad.stream()` as 10 ms `rtc.AudioFrame`s, and START/END_OF_SPEECH and
INFERENCE_DONE events are collected with their `timestamp`, which is stream time (samples
analysed / 16 kHz, the corpus rate, so no resampler shifts it), never wall clock.

- false cut-off: a `pause` clip (one turn with a 250-600 ms pause inside) gets an END_OF_SPEECH
  after the speech started and before it ended: the turn was split in two. Babble keeps every
  VAD "speaking", so babble clips are never cut off; the targets use the rate without them.
- hold cost: END_OF_SPEECH closing the segment open at the true end of a `plain` clip, minus
  that true end; "no end" counts clips whose segment never closed in the 1.5 s tail.
- missed: `pause` and `plain` clips without any START_OF_SPEECH.
- false / true interruption: share of `backchannel` / `plain` clips that would interrupt the
  agent at each `min_interruption_duration` under the livekit-agents rule (see
  `offline_metrics.would_interrupt`), and the duration the rule would need to keep false ones
  within target.
- CPU: process time (all threads) per second of audio.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.turns.common import FRAME_MS, Clip, load_clips, write_results
from benchmarks.turns.corpus import ensure_corpus
from benchmarks.turns.offline_metrics import evaluate, targets
from benchmarks.turns.offline_report import report
from benchmarks.turns.vads import Detector, detectors, trace

ROOT = Path(__file__).resolve().parents[2]

HOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
QUICK_HOLDS = (0.3, 0.6)
MIN_INTERRUPTIONS = (0.3, 0.5, 0.8)


async def run(
    clips: list[Clip],
    chosen: list[Detector],
    holds: tuple[float, ...],
    thresholds: tuple[float, ...],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """All VADs at all holds over all clips: metric rows and CPU per VAD."""
    rows: list[dict[str, Any]] = []
    cpu: dict[str, dict[str, float]] = {}
    audio_s = sum(c.seconds for c in clips)
    for detector in chosen:
        spent = 0.0
        for hold in holds:
            started = time.perf_counter()
            instance = detector.build(hold)
            runs = {c.id: await trace(instance, c.samples) for c in clips}
            spent += sum(r.cpu_s for r in runs.values())
            rows.append({"vad": detector.name, "hold_s": hold, **evaluate(clips, runs, thresholds)})
            elapsed = time.perf_counter() - started
            print(f"  {detector.name} hold {hold:g} s: {elapsed:.1f} s", file=sys.stderr)
        total = audio_s * len(holds)
        cpu[detector.name] = {
            "cpu_s": spent,
            "audio_s": total,
            "cpu_ms_per_audio_s": 1000 * spent / total,
        }
    return rows, cpu


def main_offline(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Every chosen VAD at every hold over the corpus."""
    holds = args.holds or (QUICK_HOLDS if args.quick else HOLDS)
    thresholds = args.min_interruptions or MIN_INTERRUPTIONS
    out = args.out or ROOT / "benchmarks/results/turn_taking_vad.json"
    available = detectors()
    names = args.vads.split(",") if args.vads else list(available)
    if unknown := [n for n in names if n not in available]:
        parser.error(f"unknown VAD {', '.join(unknown)}; choose from {', '.join(available)}")
    chosen = [available[n] for n in names]

    started = time.perf_counter()
    manifest = ensure_corpus(args.corpus)
    clips = load_clips(args.corpus, manifest, args.quick)
    rows, cpu = asyncio.run(run(clips, chosen, holds, thresholds))
    elapsed = time.perf_counter() - started
    verdict = targets(rows, thresholds)

    counts: dict[str, int] = {}
    for c in clips:
        key = f"{c.category}/{'clean' if c.snr_db is None else 'noisy'}"
        counts[key] = counts.get(key, 0) + 1
    audio_s = sum(c.seconds for c in clips)
    print(
        f"{len(clips)} clips ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}), "
        f"{audio_s:.0f} s of audio, {len(chosen)} VADs x {len(holds)} holds, {elapsed:.0f} s"
    )
    print()
    print(report(rows, cpu, verdict, thresholds))
    write_results(
        out,
        {
            "benchmark": "turn_taking_vad",
            "corpus": {
                "dir": str(args.corpus),
                "version": manifest["version"],
                "clips": counts,
                "audio_s": audio_s,
                "quick": args.quick,
            },
            "frame_ms": FRAME_MS,
            "vads": {d.name: d.description for d in chosen},
            "holds_s": list(holds),
            "min_interruptions_s": list(thresholds),
            "elapsed_s": elapsed,
            "rows": rows,
            "cpu": cpu,
            "targets": verdict,
        },
    )
