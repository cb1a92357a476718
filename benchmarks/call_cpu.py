"""CPU a call's per-frame work costs, ours against what ran before (livekit's stock code for
the first two) in the same run.

A load run's worker CPU moves by +-2 points of a core from run to run at 4 calls, more than
one change to the per-frame path saves, so each part is measured here alone on one minute of
speech and silence, in process CPU time, ours and the earlier version back to back (twice):

- the turn VAD: livekit-plugins-silero's stream (each 32 ms window scored on a thread pool,
  every event through a metrics branch) against ours (`livekit_patches.silero`: scored in
  place, one reader);
- the transcript synchroniser's speaking-rate estimate (a one-second window every 100 ms at
  24 kHz, while the agent speaks): the one-pass STFT against the sliding one
  (`livekit_patches.speaking_rate`), with the framework's own per-frame STFT beside them;
- the STT's segmenter: our WebRTC VAD with an event per 20 ms frame (what a turn VAD sends)
  against cuts only (`WebRTCVADOptions.inference_events=False`).

    .venv/bin/python benchmarks/call_cpu.py [--seconds 60] [--out FILE]

Figures are % of one core per call (the part's CPU seconds / audio seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livekit import rtc  # noqa: E402
from livekit.agents import vad  # noqa: E402
from livekit.agents.voice.transcription._speaking_rate import SpeakingRateStream  # noqa: E402
from livekit.plugins import silero  # noqa: E402

from livekit_patches.silero import vad_sharing_session  # noqa: E402
from livekit_patches.speaking_rate import SlidingFlux, spectral_flux  # noqa: E402
from pipelines import WebRTCVAD, WebRTCVADOptions  # noqa: E402
from simulator.speech import render_speech  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "call_cpu.json"
RATE = 16000
FRAME = RATE // 50  # 20 ms, as the worker hears the caller
PHRASE = "The table is booked for seven tonight, by the window, for four people. "


def caller_audio(seconds: float) -> np.ndarray:
    """Speech and one-second silences, repeated to `seconds` at 16 kHz."""
    speech = render_speech(PHRASE * 3, rate=RATE)
    unit = np.concatenate([speech, np.zeros(RATE, np.int16)])
    reps = int(seconds * RATE // len(unit)) + 1
    return np.tile(unit, reps)[: int(seconds * RATE)]


async def vad_cpu(detector: vad.VAD, audio: np.ndarray) -> tuple[float, int]:
    """CPU seconds of `detector`'s stream over `audio` in 20 ms frames, and events read."""
    stream = detector.stream()
    events = 0

    async def read() -> None:
        nonlocal events
        async for _ in stream:
            events += 1

    reader = asyncio.create_task(read())
    started = time.process_time()
    for i in range(0, len(audio), FRAME):
        stream.push_frame(rtc.AudioFrame(audio[i : i + FRAME].tobytes(), RATE, 1, FRAME))
        await asyncio.sleep(0)  # a frame at a time, as the room delivers them
    stream.end_input()
    await reader
    spent = time.process_time() - started
    await stream.aclose()
    return spent, events


def flux_cpu(estimate: Callable[[np.ndarray, int, int], float], audio: np.ndarray) -> float:
    """CPU seconds of the speaking-rate windows over `audio` (24 kHz float), one buffer reused
    as the framework's stream does."""
    rate, step = 24000, 2400
    window = np.empty(rate, np.float32)
    started = time.process_time()
    for start in range(0, len(audio) - rate, step):
        window[:] = audio[start : start + rate]
        estimate(window, rate, step)
    return time.process_time() - started


def stock_flux(audio: np.ndarray, rate: int, _step: int) -> float:
    stream = SpeakingRateStream.__new__(SpeakingRateStream)
    return float(SpeakingRateStream._spectral_flux(stream, audio, rate))


async def measure(seconds: float) -> list[dict[str, object]]:
    audio = caller_audio(seconds)
    base = cast(silero.VAD, silero.VAD.load(min_silence_duration=0.6))
    stock_silero = silero.VAD(session=base._onnx_session, opts=base._opts)
    our_silero = vad_sharing_session(base, min_silence_duration=0.6)
    every = WebRTCVAD(WebRTCVADOptions(min_silence_duration=0.15))
    cuts = WebRTCVAD(WebRTCVADOptions(min_silence_duration=0.15, inference_events=False))
    rows: list[dict[str, object]] = []

    async def pair(part: str, before: vad.VAD, ours: vad.VAD) -> None:
        runs: dict[str, list[float]] = {"before": [], "ours": []}
        for _ in range(2):
            for name, detector in (("before", before), ("ours", ours)):
                spent, _events = await vad_cpu(detector, audio)
                runs[name].append(spent)
        rows.append(row(part, runs, seconds))

    await pair("turn VAD (Silero)", stock_silero, our_silero)
    await pair("STT segmenter (WebRTC)", every, cuts)

    audio24 = (np.repeat(audio, 3)[: int(seconds * 24000)] / 32768).astype(np.float32)
    runs: dict[str, list[float]] = {"before": [], "ours": []}
    framework = []
    for _ in range(2):
        framework.append(flux_cpu(stock_flux, audio24))
        runs["before"].append(flux_cpu(lambda a, r, _s: spectral_flux(a, r), audio24))
        runs["ours"].append(flux_cpu(SlidingFlux(), audio24))
    rows.append(row("speaking rate (while the agent speaks)", runs, seconds))
    rows[-1]["framework_pct"] = round(100 * min(framework) / seconds, 3)
    return rows


def row(part: str, runs: dict[str, list[float]], seconds: float) -> dict[str, object]:
    before, ours = min(runs["before"]), min(runs["ours"])
    return {
        "part": part,
        "before_pct": round(100 * before / seconds, 3),
        "ours_pct": round(100 * ours / seconds, 3),
        "ratio": round(ours / before, 3) if before else None,
        "runs_s": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per measurement")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.seconds))
    print(f"\nCPU per call, % of one core (best of 2, {args.seconds:g} s of audio each)\n")
    print(f"{'part':<42}{'before':>8}{'ours':>8}{'ours/before':>13}")
    for r in rows:
        print(f"{r['part']:<42}{r['before_pct']:>8.2f}{r['ours_pct']:>8.2f}{r['ratio']:>13.2f}")
    flux = rows[-1]
    print(f"(the framework's own speaking-rate STFT: {flux['framework_pct']:.2f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds": args.seconds, "rows": rows}, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
