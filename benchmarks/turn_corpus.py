"""Labelled caller utterances for the offline turn-taking benchmark (`turn_taking.py`).

    .venv/bin/python benchmarks/turn_corpus.py [--out DIR] [--force]

Every clip is a 16 kHz mono 16-bit WAV: 16 kHz is the rate both VADs analyse at (in a room they
get 24 kHz frames and resample them), so the corpus measures the detectors, not a resampler.
Speech comes from two TTS engines: espeak-ng (the simulated caller's voice) and Piper
(en_US-joe-medium, the packaged voice). Categories:

- `pause`: one sentence in two parts with 250, 400 or 600 ms of silence between them. One turn:
  a VAD that ends speech inside the pause splits it.
- `plain`: one sentence without internal pauses.
- `backchannel`: "mm-hmm", "yeah", "uh-huh", "okay", "right", and synthetic coughs and clicks.
  None of them should interrupt an agent.

`pause` and `plain` clips also come mixed with pink, brown or babble noise (babble: several
quiet espeak-ng talkers summed) at 20, 10 and 5 dB SNR, each clean clip once per SNR; the noise
kind rotates with the text and engine, so the three pause lengths of a text share the same
noise at each SNR and every pause length sees every noise/SNR pair equally often. The clean
versions are kept. SNR is speech power over the speech regions against noise
power over the whole clip. Every clip has 0.5 s of silence before the speech and 1.5 s after
it (all clips sit on a -80 dBFS white floor, never on digital silence).

Ground truth, per clip in `manifest.json`: `regions`, the speech spans in seconds. A region runs
from the first to the last 5 ms frame of a rendered part within 45 dB of its loudest frame, so
the silence between regions is exactly the inserted pause. Generation is skipped when the
manifest already has this `CORPUS_VERSION` and all its files; `--force` regenerates (Piper's
synthesis is stochastic, so its clips then differ slightly; everything else is seeded).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.turns.corpus import (  # noqa: E402
    CORPUS_VERSION,
    DEFAULT_OUT,
    ensure_corpus,
    up_to_date,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args()
    if not args.force and up_to_date(args.out):
        print(f"corpus v{CORPUS_VERSION} up to date in {args.out}")
        return
    start = time.perf_counter()
    manifest = ensure_corpus(args.out, force=True)
    elapsed = time.perf_counter() - start
    print(f"wrote {len(manifest['clips'])} clips to {args.out} in {elapsed:.1f} s")
    for name, count in manifest["counts"].items():
        print(f"  {name:22} {count:4d}")


if __name__ == "__main__":
    main()
