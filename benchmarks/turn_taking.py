"""Turn-taking decisions of the VADs, offline: where they end a caller's turn, what their hold
costs before the agent may answer, and which short sounds would interrupt the agent.

    .venv/bin/python benchmarks/turn_taking.py [--corpus DIR] [--holds 0.2,0.3,...] [--quick]

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
  `would_interrupt`), and the duration the rule would need to keep false ones within target.
- CPU: process time (all threads) per second of audio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livekit import rtc  # noqa: E402
from livekit.agents import vad  # noqa: E402
from livekit.plugins import silero  # noqa: E402

from benchmarks.turn_corpus import DEFAULT_OUT, RATE, ensure_corpus  # noqa: E402
from pipelines.config import TurnDetection  # noqa: E402
from pipelines.vad import WebRTCVAD, WebRTCVADOptions  # noqa: E402
from simulator.audio import read_wav  # noqa: E402

FRAME_MS = 10
HOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
QUICK_HOLDS = (0.3, 0.6)
MIN_INTERRUPTIONS = (0.3, 0.5, 0.8)
TARGET_MAX_CUTOFF = 0.05
TARGET_MAX_HOLD = 0.6
TARGET_MAX_FALSE_INTERRUPTION = 0.10
TARGET_MIN_TRUE_INTERRUPTION = 0.95


@dataclass(frozen=True, eq=False)
class Clip:
    """A corpus clip with its ground truth."""

    id: str
    category: str
    kind: str
    engine: str
    snr_db: float | None
    noise: str | None
    gap_ms: int | None
    regions: list[list[float]]
    samples: np.ndarray = field(repr=False)

    @property
    def speech_start(self) -> float:
        return self.regions[0][0]

    @property
    def speech_end(self) -> float:
        return self.regions[-1][1]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


@dataclass
class Trace:
    """What one VAD stream reported for one clip."""

    starts: list[float]
    ends: list[float]
    voiced: list[float]
    """`speech_duration` of each END_OF_SPEECH: the segment without its closing silence."""
    times: np.ndarray
    """INFERENCE_DONE timestamps."""
    speech: np.ndarray
    """INFERENCE_DONE `speech_duration`, the figure livekit-agents compares to
    `min_interruption_duration`."""
    cpu_s: float


@dataclass(frozen=True)
class Detector:
    """A VAD under test, built for a given hold."""

    name: str
    description: str
    build: Callable[[float], vad.VAD]


def detectors() -> dict[str, Detector]:
    """Our WebRTC VAD at each aggressiveness (project frame and min speech), and Silero."""
    td = TurnDetection()

    def webrtc(level: int) -> Callable[[float], vad.VAD]:
        def build(hold: float) -> vad.VAD:
            options = WebRTCVADOptions(
                aggressiveness=level,
                frame_ms=td.vad_frame_ms,
                min_speech_duration=td.min_speech_duration,
                min_silence_duration=hold,
            )
            return WebRTCVAD(options)

        return build

    found = {
        f"webrtc-a{level}": Detector(
            f"webrtc-a{level}",
            f"WebRTCVAD aggressiveness {level}, {td.vad_frame_ms} ms frames, "
            f"min speech {td.min_speech_duration} s",
            webrtc(level),
        )
        for level in range(4)
    }
    found["silero"] = Detector(
        "silero",
        "silero.VAD.load() defaults: activation 0.5, min speech 0.05 s, 32 ms windows",
        lambda hold: silero.VAD.load(min_silence_duration=hold),
    )
    return found


def load_clips(corpus: Path, manifest: dict[str, Any], quick: bool) -> list[Clip]:
    """The manifest's clips (in quick mode: clean ones and the 10 dB mixes)."""
    clips = []
    for entry in manifest["clips"]:
        if quick and entry["snr_db"] not in (None, 10.0):
            continue
        clips.append(
            Clip(
                id=entry["id"],
                category=entry["category"],
                kind=entry["kind"],
                engine=entry["engine"],
                snr_db=entry["snr_db"],
                noise=entry["noise"],
                gap_ms=entry["gap_ms"],
                regions=entry["regions"],
                samples=read_wav(corpus / entry["file"], RATE),
            )
        )
    return clips


async def trace(detector: vad.VAD, samples: np.ndarray) -> Trace:
    """Push `samples` in 10 ms frames through a fresh stream and record its events."""
    stream = detector.stream()
    step = RATE * FRAME_MS // 1000
    cpu = time.process_time()
    pushed = 0
    for offset in range(0, len(samples) - step + 1, step):
        chunk = samples[offset : offset + step]
        stream.push_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, step))
        pushed += step
    stream.end_input()
    starts: list[float] = []
    ends: list[float] = []
    voiced: list[float] = []
    times: list[float] = []
    speech: list[float] = []
    async for ev in stream:
        assert ev.timestamp <= pushed / RATE + 1e-6, "event ahead of the audio"
        if ev.type is vad.VADEventType.INFERENCE_DONE:
            times.append(ev.timestamp)
            speech.append(ev.speech_duration)
        elif ev.type is vad.VADEventType.START_OF_SPEECH:
            starts.append(ev.timestamp)
        else:
            ends.append(ev.timestamp)
            voiced.append(ev.speech_duration)
    cpu = time.process_time() - cpu
    await stream.aclose()
    return Trace(starts, ends, voiced, np.array(times), np.array(speech), cpu)


# livekit-agents 1.8.9, interruption mode "vad" (as agent_worker/main.py configures it), read in
# livekit/agents/voice/agent_activity.py and audio_recognition.py:
# - on_vad_inference_done() runs on every INFERENCE_DONE event of the session VAD and calls
#   _interrupt_by_audio_activity() once `ev.speech_duration >= interruption["min_duration"]`
#   (min_interruption_duration, default 0.5 s; ours 0.5 s).
# - That speech_duration is not voiced time: both VADs add every window from START_OF_SPEECH
#   to END_OF_SPEECH to it, the silence of the hold included. A sound voiced for v seconds
#   peaks at about v + hold, so a longer hold makes every backchannel and cough longer, and
#   whenever min_interruption_duration <= min_speech_duration + hold, every START_OF_SPEECH
#   ends in an interruption. With our defaults (min speech 0.1 s, hold 0.3 s, minimum 0.5 s)
#   any sound voiced for about 0.2 s interrupts.
# - interruption["min_words"] (min_interruption_words, default 0) is checked inside
#   _interrupt_by_audio_activity() only when an STT is present and min_words > 0; at 0 it
#   does not apply, so a cough interrupts as readily as a word.
# - That duration is not the only path: on_final_transcript() calls
#   _interrupt_by_audio_activity() for any non-empty final transcript while the agent speaks
#   (in "vad" mode no adaptive gate holds transcripts back), with no duration check. A
#   transcribed "yeah", however short, interrupts; only min_words >= 2 would stop a one-word
#   transcript. The rates below cover the VAD path alone: a lower bound for a call with an STT.
# - With resume_false_interruption (default on), false_interruption_timeout (2 s) and a room
#   audio output (it can pause), the interruption first pauses the agent's audio; a final
#   transcript then interrupts the reply for good, while 2 s without one resumes it.
def would_interrupt(run: Trace, min_interruption: float) -> bool:
    """The VAD path of the rule: some INFERENCE_DONE reports speech >= the minimum."""
    return bool(len(run.speech)) and float(run.speech.max()) >= min_interruption


def voiced_reaches(run: Trace, min_interruption: float) -> bool:
    """The same test on the speech of END_OF_SPEECH events (the hold left out)."""
    return any(v >= min_interruption for v in run.voiced)


def interruption_delay(clip: Clip, run: Trace, min_interruption: float) -> float | None:
    """Seconds from the true speech start to the INFERENCE_DONE that would interrupt."""
    hits = np.nonzero(run.speech >= min_interruption)[0]
    return float(run.times[hits[0]]) - clip.speech_start if len(hits) else None


def is_cut_off(clip: Clip, run: Trace) -> bool:
    """An END_OF_SPEECH between the start and the end of the speech."""
    return any(clip.speech_start < t < clip.speech_end for t in run.ends)


def turn_end_delay(clip: Clip, run: Trace) -> float | None:
    """END_OF_SPEECH of the segment open at the true speech end, minus that end (None: never)."""
    opened = [t for t in run.starts if t < clip.speech_end]
    if not opened:
        return None
    closing = [t for t in run.ends if t > opened[-1]]
    return closing[0] - clip.speech_end if closing else None


async def in_room_barge_in_stop_latency(
    detector: Detector, hold: float, min_interruption: float
) -> dict[str, float] | None:
    """Extension point: caller barge-in -> the agent's audio stops, measured in a real room.

    Needs livekit-server, the worker and the simulated caller, so the offline run returns
    None and the report leaves the figure out. An implementation plays the `plain` clips over
    the agent's speech and returns {"p50": s, "p95": s, "n": clips}; the offline
    `interruption_delay` (the VAD's share of it) is its lower bound.
    """
    return None


def rate(flags: Iterable[bool]) -> float | None:
    """Share of true flags (None when there are none)."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def quantiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and count."""
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    array = np.array(values)
    return {
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "n": len(values),
    }


def peak_speech(run: Trace) -> float:
    """The largest `speech_duration` the VAD reported: what the interruption rule sees."""
    return float(run.speech.max()) if len(run.speech) else 0.0


def interruption_needed(peaks: list[float], max_share: float) -> float | None:
    """The peak a min_interruption_duration must exceed to keep false interruptions within
    `max_share` of the clips (None: no peaks)."""
    if not peaks:
        return None
    allowed = int(max_share * len(peaks) + 1e-9)
    ordered = sorted(peaks, reverse=True)
    return ordered[allowed] if allowed < len(ordered) else 0.0


def evaluate(
    clips: list[Clip], runs: dict[str, Trace], thresholds: tuple[float, ...]
) -> dict[str, Any]:
    """Every metric for one VAD at one hold."""
    pause = [c for c in clips if c.category == "pause"]
    plain = [c for c in clips if c.category == "plain"]
    back = [c for c in clips if c.category == "backchannel"]

    def cut(selected: Iterable[Clip]) -> float | None:
        return rate(is_cut_off(c, runs[c.id]) for c in selected)

    def condition(clip: Clip) -> str:
        return clip.noise or "clean"

    snrs = sorted({c.snr_db for c in pause if c.snr_db is not None}, reverse=True)
    gaps = sorted({c.gap_ms for c in pause if c.gap_ms is not None})
    conditions = sorted({condition(c) for c in pause + plain})
    heard = [c for c in plain if runs[c.id].starts]
    costs: dict[str, float] = {}
    for c in heard:
        delay = turn_end_delay(c, runs[c.id])
        if delay is not None:
            costs[c.id] = delay
    words = [c for c in back if c.kind == "word"]
    sounds = [c for c in back if c.kind != "word"]
    interruptions: dict[str, Any] = {}
    for t in thresholds:
        detected = [interruption_delay(c, runs[c.id], t) for c in plain]
        interruptions[f"{t:g}"] = {
            "false": rate(would_interrupt(runs[c.id], t) for c in back),
            "false_words": rate(would_interrupt(runs[c.id], t) for c in words),
            "false_sounds": rate(would_interrupt(runs[c.id], t) for c in sounds),
            "false_voiced_only": rate(voiced_reaches(runs[c.id], t) for c in back),
            "true": rate(would_interrupt(runs[c.id], t) for c in plain),
            "true_clean": rate(would_interrupt(runs[c.id], t) for c in plain if c.snr_db is None),
            "detect_delay_s": quantiles([d for d in detected if d is not None]),
        }
    peaks = {c.id: peak_speech(runs[c.id]) for c in back}
    return {
        "cutoff": {
            "clean": cut(c for c in pause if c.snr_db is None),
            "noisy": cut(c for c in pause if c.snr_db is not None),
            "all": cut(pause),
            "excl_babble": cut(c for c in pause if c.noise != "babble"),
            "by_gap_ms": {str(g): cut(c for c in pause if c.gap_ms == g) for g in gaps},
            "by_snr_db": {f"{s:g}": cut(c for c in pause if c.snr_db == s) for s in snrs},
            "by_noise": {n: cut(c for c in pause if condition(c) == n) for n in conditions},
        },
        "hold_cost_s": {
            "all": quantiles(list(costs.values())),
            "clean": quantiles([costs[c.id] for c in heard if c.id in costs and not c.noise]),
            "noisy": quantiles([costs[c.id] for c in heard if c.id in costs and c.noise]),
        },
        "no_end": rate(c.id not in costs for c in heard),
        "no_end_excl_babble": rate(c.id not in costs for c in heard if c.noise != "babble"),
        "no_end_by_noise": {
            n: rate(c.id not in costs for c in heard if condition(c) == n) for n in conditions
        },
        "missed": rate(not runs[c.id].starts for c in pause + plain),
        "missed_clean": rate(not runs[c.id].starts for c in pause + plain if c.snr_db is None),
        "interruption": interruptions,
        "backchannel_peak_speech_s": peaks,
        "min_interruption_to_beat_s": interruption_needed(
            list(peaks.values()), TARGET_MAX_FALSE_INTERRUPTION
        ),
    }


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
            row = {"vad": detector.name, "hold_s": hold, **evaluate(clips, runs, thresholds)}
            room = {
                f"{t:g}": await in_room_barge_in_stop_latency(detector, hold, t) for t in thresholds
            }
            if any(v is not None for v in room.values()):
                row["barge_in_stop_latency_s"] = room
            rows.append(row)
            elapsed = time.perf_counter() - started
            print(f"  {detector.name} hold {hold:g} s: {elapsed:.1f} s", file=sys.stderr)
        total = audio_s * len(holds)
        cpu[detector.name] = {
            "cpu_s": spent,
            "audio_s": total,
            "cpu_ms_per_audio_s": 1000 * spent / total,
        }
    return rows, cpu


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def targets(rows: list[dict[str, Any]], thresholds: tuple[float, ...]) -> dict[str, Any]:
    """Which VAD / hold / min interruption settings meet the turn-taking targets."""
    passing = []
    per_vad: dict[str, Any] = {}
    for row in rows:
        best = per_vad.setdefault(
            row["vad"],
            {
                "shortest_hold_s": None,
                "shortest_hold_clean_s": None,
                "min_interruption_to_beat_s": None,
            },
        )
        if row["hold_s"] > TARGET_MAX_HOLD + 1e-9:
            continue
        if (row["cutoff"]["clean"] or 0.0) <= TARGET_MAX_CUTOFF and best[
            "shortest_hold_clean_s"
        ] is None:
            best["shortest_hold_clean_s"] = row["hold_s"]
        cutoff_ok = (row["cutoff"]["excl_babble"] or 0.0) <= TARGET_MAX_CUTOFF
        if cutoff_ok and best["shortest_hold_s"] is None:
            best["shortest_hold_s"] = row["hold_s"]
            best["min_interruption_to_beat_s"] = row["min_interruption_to_beat_s"]
            best["no_end_excl_babble"] = row["no_end_excl_babble"]
        for t in thresholds:
            stats = row["interruption"][f"{t:g}"]
            if (
                cutoff_ok
                and (stats["false"] or 0.0) <= TARGET_MAX_FALSE_INTERRUPTION
                and (stats["true"] or 0.0) >= TARGET_MIN_TRUE_INTERRUPTION
            ):
                passing.append(
                    {
                        "vad": row["vad"],
                        "hold_s": row["hold_s"],
                        "min_interruption_s": t,
                        "cutoff": row["cutoff"]["excl_babble"],
                        "false_interruption": stats["false"],
                        "true_interruption": stats["true"],
                        "hold_cost_p50_s": row["hold_cost_s"]["all"]["p50"],
                    }
                )
    return {
        "rule": {
            "max_cutoff": TARGET_MAX_CUTOFF,
            "max_hold_s": TARGET_MAX_HOLD,
            "max_false_interruption": TARGET_MAX_FALSE_INTERRUPTION,
            "min_true_interruption": TARGET_MIN_TRUE_INTERRUPTION,
        },
        "per_vad": per_vad,
        "passing": passing,
    }


def report(
    rows: list[dict[str, Any]],
    cpu: dict[str, dict[str, float]],
    verdict: dict[str, Any],
    thresholds: tuple[float, ...],
) -> str:
    """The markdown tables."""
    conditions = [n for n in rows[0]["no_end_by_noise"] if n != "clean"]
    ending = []
    for r in rows:
        cost, clean = r["hold_cost_s"]["all"], r["hold_cost_s"]["clean"]
        ending.append(
            [
                r["vad"],
                f"{r['hold_s']:g}",
                pct(r["cutoff"]["clean"]),
                pct(r["cutoff"]["noisy"]),
                pct(r["cutoff"]["all"]),
                pct(r["cutoff"]["excl_babble"]),
                f"{ms(clean['p50'])} / {ms(clean['p95'])}",
                f"{ms(cost['p50'])} / {ms(cost['p95'])}",
                " / ".join(pct(r["no_end_by_noise"][n]) for n in ["clean", *conditions]),
                pct(r["missed"]),
            ]
        )
    gaps = list(rows[0]["cutoff"]["by_gap_ms"])
    snrs = list(rows[0]["cutoff"]["by_snr_db"])
    detail = [
        [r["vad"], f"{r['hold_s']:g}"]
        + [pct(r["cutoff"]["by_gap_ms"][g]) for g in gaps]
        + [pct(r["cutoff"]["clean"])]
        + [pct(r["cutoff"]["by_snr_db"][s]) for s in snrs]
        + [pct(r["cutoff"]["by_noise"][n]) for n in conditions]
        for r in rows
    ]
    interrupt = []
    for r in rows:
        stats = r["interruption"]
        interrupt.append(
            [r["vad"], f"{r['hold_s']:g}"]
            + [
                f"{pct(stats[f'{t:g}']['false'])} ({pct(stats[f'{t:g}']['false_voiced_only'])})"
                for t in thresholds
            ]
            + [pct(stats[f"{t:g}"]["true"]) for t in thresholds]
            + [f"{r['min_interruption_to_beat_s']:.2f}"]
        )
    out = [
        "### Ending the turn (pause clips: false cut-offs; plain clips: hold cost, no end)",
        "",
        table(
            [
                "VAD",
                "hold s",
                "cut-off clean",
                "cut-off noisy",
                "cut-off all",
                "cut-off excl. babble",
                "hold cost clean p50 / p95 ms",
                "hold cost all p50 / p95 ms",
                "no end " + " / ".join(["clean", *conditions]),
                "missed",
            ],
            ending,
        ),
        "",
        "### False cut-offs by pause length (clean + noisy), by SNR and by noise",
        "",
        table(
            ["VAD", "hold s"]
            + [f"pause {g} ms" for g in gaps]
            + ["clean"]
            + [f"{s} dB" for s in snrs]
            + conditions,
            detail,
        ),
        "",
        "### Interruptions: livekit-agents VAD rule (in brackets: voiced speech only, no hold)",
        "",
        table(
            ["VAD", "hold s"]
            + [f"false @{t:g} s" for t in thresholds]
            + [f"true @{t:g} s" for t in thresholds]
            + [f"min int. for <= {pct(TARGET_MAX_FALSE_INTERRUPTION)} false: > s"],
            interrupt,
        ),
        "",
        "### CPU",
        "",
        table(
            ["VAD", "CPU ms per s of audio", "audio s"],
            [
                [name, f"{c['cpu_ms_per_audio_s']:.2f}", f"{c['audio_s']:.0f}"]
                for name, c in cpu.items()
            ],
        ),
        "",
        f"### Targets: cut-offs (excl. babble) <= {pct(TARGET_MAX_CUTOFF)} with hold <= "
        f"{TARGET_MAX_HOLD:g} s, "
        f"false interruptions <= {pct(TARGET_MAX_FALSE_INTERRUPTION)}, "
        f"true interruptions >= {pct(TARGET_MIN_TRUE_INTERRUPTION)}",
        "",
    ]
    for name, best in verdict["per_vad"].items():
        hold, clean = best["shortest_hold_s"], best["shortest_hold_clean_s"]
        line = (
            f"- {name}: shortest hold with cut-offs <= {pct(TARGET_MAX_CUTOFF)}: "
            f"{'none' if hold is None else f'{hold:g} s'} (clean clips only: "
            f"{'none' if clean is None else f'{clean:g} s'})"
        )
        if hold is not None:
            line += (
                f"; at that hold, {pct(best['no_end_excl_babble'])} of plain clips outside "
                f"babble never end, and false interruptions <= "
                f"{pct(TARGET_MAX_FALSE_INTERRUPTION)} need min_interruption_duration > "
                f"{best['min_interruption_to_beat_s']:.2f} s"
            )
        out.append(line)
    if verdict["passing"]:
        out.append("")
        out.append(
            table(
                [
                    "VAD",
                    "hold s",
                    "min interruption s",
                    "cut-off",
                    "false int.",
                    "true int.",
                    "hold cost p50 ms",
                ],
                [
                    [
                        p["vad"],
                        f"{p['hold_s']:g}",
                        f"{p['min_interruption_s']:g}",
                        pct(p["cutoff"]),
                        pct(p["false_interruption"]),
                        pct(p["true_interruption"]),
                        ms(p["hold_cost_p50_s"]),
                    ]
                    for p in verdict["passing"]
                ],
            )  # fmt: skip
        )
    else:
        out.append(
            f"- no setting meets every target with min_interruption_duration in "
            f"{', '.join(f'{t:g}' for t in thresholds)} s"
        )
    return "\n".join(out)


def parse_floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--holds", type=parse_floats, help="min_silence_duration values, s")
    parser.add_argument(
        "--min-interruptions", type=parse_floats, default=MIN_INTERRUPTIONS, help="seconds"
    )
    parser.add_argument("--vads", help="comma-separated subset of " + ", ".join(detectors()))
    parser.add_argument(
        "--quick", action="store_true", help=f"holds {QUICK_HOLDS}, clean and 10 dB clips only"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/turn_taking_vad.json"
    )
    args = parser.parse_args()
    holds = args.holds or (QUICK_HOLDS if args.quick else HOLDS)
    available = detectors()
    names = args.vads.split(",") if args.vads else list(available)
    if unknown := [n for n in names if n not in available]:
        parser.error(f"unknown VAD {', '.join(unknown)}; choose from {', '.join(available)}")
    chosen = [available[n] for n in names]

    started = time.perf_counter()
    manifest = ensure_corpus(args.corpus)
    clips = load_clips(args.corpus, manifest, args.quick)
    rows, cpu = asyncio.run(run(clips, chosen, holds, args.min_interruptions))
    elapsed = time.perf_counter() - started
    verdict = targets(rows, args.min_interruptions)

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
    print(report(rows, cpu, verdict, args.min_interruptions))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
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
                "min_interruptions_s": list(args.min_interruptions),
                "elapsed_s": elapsed,
                "rows": rows,
                "cpu": cpu,
                "targets": verdict,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
