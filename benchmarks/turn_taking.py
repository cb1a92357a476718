"""Turn-taking decisions of the VADs, offline: where they end a caller's turn, what their hold
costs before the agent may answer, and which short sounds would interrupt the agent; and in a
real room, how fast a barge-in stops the agent and what a backchannel does to its reply.

    .venv/bin/python benchmarks/turn_taking.py [--corpus DIR] [--holds 0.2,0.3,...] [--quick]
    .venv/bin/python benchmarks/turn_taking.py --in-room [--vads webrtc,silero] [--holds 0.3,0.6]
        [--min-interruptions 0.2,0.5] [--trials 6] [--turns-per-call 6]

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

`--in-room` starts livekit-server and our worker on their own ports (`ROOM_PORTS`, clear of the
test suite and `make run`) and a fake OpenAI server that answers every question with the same
paragraph (about 20 s of the local Piper voice) and anything said over it with one short line.
For each agent configuration (turn VAD x hold x `min_interruption_duration`, sent inline in the
dispatch metadata), a simulated caller asks a question per turn and, `--after` seconds into the
reply as it hears it, says a clean corpus clip over it: a `plain` sentence (barge-in) or a
`backchannel` clip (word, cough or click; the same clips for every configuration). Clips are
cut to their sound, so the interjection's onset is the ground-truth speech start. Times are
the caller's: frame send times and agent audio arrival times, as in `simulator.caller`.

- stop: interjection onset -> the first 0.5 s without agent sound (`STOP_QUIET`); a barge-in
  the agent does not stop for within `--stop-timeout` is missed.
- each interjection's outcome: not stopped; paused then resumed (the agent's audio came back
  and no request reached the model: a hiccup); or the reply lost (the agent stopped and did not
  resume, or answered what it heard: a false interruption for a backchannel, the wanted
  outcome for a barge-in). "answered" counts model requests made after the onset, with the
  caller's words as transcribed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livekit import api, rtc  # noqa: E402
from livekit.agents import vad  # noqa: E402
from livekit.plugins import silero  # noqa: E402

from agent.contract import AgentConfig, TurnDetection  # noqa: E402
from benchmarks.turns.corpus import DEFAULT_OUT, ensure_corpus  # noqa: E402
from benchmarks.turns.sounds import RATE  # noqa: E402
from fake_providers.openai import FakeOpenAI  # noqa: E402
from pipelines import WebRTCVAD, WebRTCVADOptions  # noqa: E402
from shared.audio import resample  # noqa: E402
from shared.stats import percentile  # noqa: E402
from simulator.audio import CALLER_RATE, read_wav, speech_segments  # noqa: E402
from simulator.caller import STOP_QUIET, AgentListener, MetricsInbox, Microphone  # noqa: E402
from simulator.speech import render_speech  # noqa: E402
from simulator.stack import Stack, StackConfig  # noqa: E402

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
    text: str
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
                text=entry["text"],
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


def rate(flags: Iterable[bool]) -> float | None:
    """Share of true flags (None when there are none)."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def quantiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and count."""
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "n": len(values)}


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


# --- In a room: livekit-server, our worker and a simulated caller ------------------------------

ROOM_PORTS = {
    "livekit_port": 9080,
    "livekit_udp_port": 9082,
    "llm_port": 9188,
    "worker_http_port": 9181,
}
"""Clear of the test suite (7980/8188/8181) and `make run` (7880/8088/8081)."""
ROOM_AGENT = "turn-taking-bench"
ROOM_VADS = ("webrtc", "silero")
ROOM_HOLDS = (0.3, 0.6)
ROOM_MIN_INTERRUPTIONS = (0.2, 0.5)
ROOM_TRIALS = 6
TURNS_PER_CALL = 6
INTERJECT_AFTER = 2.5
"""Seconds into the agent's reply, as the caller hears it, at which the interjection starts."""
STOP_TIMEOUT = 3.0
"""A stop later than this after the onset is no stop (the reply runs ~17 s past the onset)."""
ONSET_LEAD = 0.05
"""Seconds of the clip kept before its sound."""
SETTLE_QUIET = 1.5
"""Agent quiet before each question: the previous turn is over."""
RESUME_MARGIN = 2.5
"""Quiet that ends a turn, beyond `false_interruption_timeout`: longer than any pause before a
resumed reply."""
REPLY_TIMEOUT = 30.0
OPENAI_KEY = "sk-bench-turn-taking-0001"
LLM_MODEL = "gpt-4o-mini"
QUESTIONS = (
    "When does the bakery open on Sundays?",
    "Can you tell me about your opening hours?",
    "Hello, when are you open this week?",
    "What time do you bake your fresh bread?",
)
LONG_REPLY = (
    "Our bakery opens at seven in the morning from Monday to Friday, and at eight on Saturdays. "
    "On Sundays we open at nine and close early, at two in the afternoon. "
    "Fresh bread comes out of the oven every morning at half past seven, "
    "and we bake cakes to order, which you can collect from ten o'clock on the day you choose. "
    "For a birthday cake, please order it at least two days ahead."
)
SHORT_REPLY = "Sure, go ahead."


@dataclass(frozen=True, eq=False)
class Spoken:
    """A corpus clip as the caller says it over the agent: cut to its sound, at CALLER_RATE."""

    clip: Clip
    audio: np.ndarray = field(repr=False)
    onset: float
    """Seconds into `audio` at which the sound starts."""

    @classmethod
    def of(cls, clip: Clip) -> Spoken:
        start = max(0, round((clip.speech_start - ONSET_LEAD) * RATE))
        end = min(len(clip.samples), round((clip.speech_end + 0.2) * RATE))
        audio = resample(clip.samples[start:end], RATE, CALLER_RATE)
        return cls(clip, audio, clip.speech_start - start / RATE)


@dataclass(frozen=True, eq=False)
class Trial:
    """One turn: a question, then `spoken` over the agent's reply."""

    kind: str
    """Either `barge_in` (a plain sentence) or `backchannel`."""
    spoken: Spoken
    question: str
    question_audio: np.ndarray = field(repr=False)


class ScriptedModel:
    """The fake LLM's replies: `LONG_REPLY` to a question, `SHORT_REPLY` to anything asked once
    an interjection began (the agent answering what it heard), with the words it was given."""

    def __init__(self) -> None:
        self.interjected_at: float | None = None
        self.requests: list[tuple[float, str]] = []

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        if self.interjected_at is None:
            return LONG_REPLY
        self.requests.append((time.monotonic(), last_user_text(messages)))
        return SHORT_REPLY

    def answered_since(self, t: float) -> list[str]:
        return [text for at, text in self.requests if at >= t]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict)).strip()
        return str(content or "").strip()
    return ""


def interleave(groups: list[list[Clip]], n: int, rng: np.random.Generator) -> list[Clip]:
    """`n` clips taken from each group in turn, each group shuffled (and cycled when short)."""
    cycles = [
        itertools.cycle([group[i] for i in rng.permutation(len(group))])
        for group in groups
        if group
    ]
    return [next(cycles[i % len(cycles)]) for i in range(n)]


def plan_trials(clips: list[Clip], trials: int, seed: int) -> list[Trial]:
    """Barge-ins and backchannels, alternating, from the clean clips (espeak-ng and Piper
    sentences in turn; words and sounds in turn)."""
    rng = np.random.default_rng(seed)
    clean = [c for c in clips if c.snr_db is None]
    plain = [c for c in clean if c.category == "plain"]
    back = [c for c in clean if c.category == "backchannel"]
    barge = interleave(
        [[c for c in plain if c.engine == e] for e in ("espeak", "piper")], trials, rng
    )
    nods = interleave(
        [[c for c in back if c.kind == "word"], [c for c in back if c.kind != "word"]], trials, rng
    )
    questions = {q: render_speech(q) for q in QUESTIONS}
    plan = []
    for i, clip in enumerate(c for pair in zip(barge, nods, strict=True) for c in pair):
        question = QUESTIONS[i % len(QUESTIONS)]
        kind = "barge_in" if clip.category == "plain" else "backchannel"
        plan.append(Trial(kind, Spoken.of(clip), question, questions[question]))
    return plan


def agent_audio(listener: AgentListener) -> tuple[np.ndarray, np.ndarray]:
    """Arrival time and audibility of each 10 ms frame of agent audio received so far."""
    n = min(len(listener._times), len(listener._loud))
    return np.array(listener._times[:n]), np.array(listener._loud[:n], dtype=bool)


def classify(
    times: np.ndarray,
    loud: np.ndarray,
    onset: float,
    stopped_at: float | None,
    ended_at: float,
    answered: bool,
    stop_timeout: float,
) -> dict[str, Any]:
    """What the interjection did to the reply: "not_stopped", "resumed" or "lost"."""
    if not loud[(times > onset - STOP_QUIET) & (times <= onset)].any():
        return {"outcome": "invalid", "why": "the agent was not speaking at the onset"}
    quiet_after = None if stopped_at is None else stopped_at - onset
    stop = quiet_after if quiet_after is not None and quiet_after <= stop_timeout else None
    out: dict[str, Any] = {"stop_s": stop, "quiet_after_s": quiet_after, "pause_s": None}
    if stop is None:
        return {**out, "outcome": "lost" if answered else "not_stopped"}
    assert stopped_at is not None
    back = times[loud & (times >= stopped_at + STOP_QUIET) & (times < ended_at)]
    if len(back) and not answered:
        return {**out, "outcome": "resumed", "pause_s": float(back[0]) - stopped_at}
    return {**out, "outcome": "lost"}


def agent_reaction(inbox: MetricsInbox, onset: float) -> dict[str, float | None]:
    """Where the stop went, from the worker's state changes: onset -> its VAD declared the
    caller speaking -> it paused the agent's audio. What follows the pause to the caller's
    quiet is its output and the media path back."""
    speaking = inbox.state_change("user_state", "speaking", after=onset)
    paused = inbox.agent_paused(after=onset)
    return {
        "vad_start_s": None if speaking is None else speaking - onset,
        "paused_s": None if paused is None else paused - onset,
    }


async def room_turn(
    mic: Microphone,
    listener: AgentListener,
    inbox: MetricsInbox,
    model: ScriptedModel,
    trial: Trial,
    *,
    after: float,
    stop_timeout: float,
    resume_window: float,
) -> dict[str, Any]:
    """Ask, wait `after` s into the reply, say the clip over it, and watch the reply."""
    clip = trial.spoken.clip
    record: dict[str, Any] = {
        "kind": trial.kind,
        "clip": clip.id,
        "sound": clip.kind,
        "text": clip.text,
        "question": trial.question,
    }
    await listener.quiet_from(after=time.monotonic(), quiet=SETTLE_QUIET, within=60)
    model.interjected_at = None
    speech_end = speech_segments(trial.question_audio, CALLER_RATE)[-1].end
    sent = await mic.say(trial.question_audio)
    asked_at = sent[min(int(speech_end * 1000 / FRAME_MS), len(sent) - 1)]
    started = await listener.speech_start(after=asked_at, within=REPLY_TIMEOUT)
    if started is None:
        return {**record, "outcome": "invalid", "why": "no reply to the question"}
    await asyncio.sleep(max(0.0, started + after - time.monotonic()))
    model.interjected_at = time.monotonic()
    sent = await mic.say(trial.spoken.audio)
    onset = sent[min(int(trial.spoken.onset * 1000 / FRAME_MS), len(sent) - 1)]
    stopped = await listener.quiet_from(after=onset, quiet=STOP_QUIET, within=REPLY_TIMEOUT)
    ended = await listener.quiet_from(after=stopped or onset, quiet=resume_window, within=90)
    times, loud = agent_audio(listener)
    answered = model.answered_since(model.interjected_at)
    outcome = classify(
        times, loud, onset, stopped, ended or time.monotonic(), bool(answered), stop_timeout
    )
    return {
        **record,
        "reply_after_s": started - asked_at,
        **outcome,
        **agent_reaction(inbox, onset),
        "answered": answered,
    }


async def room_call(
    stack: Stack,
    agent: AgentConfig,
    trials: list[Trial],
    model: ScriptedModel,
    *,
    after: float,
    stop_timeout: float,
) -> list[dict[str, Any]]:
    """One call: the agent is dispatched with `agent` inline, greets, then each trial is a turn."""
    endpoint = stack.endpoint
    room_name = f"turns-{uuid.uuid4().hex[:10]}"
    token = (
        api.AccessToken(endpoint.api_key, endpoint.api_secret)
        .with_identity(f"caller-{uuid.uuid4().hex[:6]}")
        .with_grants(api.VideoGrants(room_join=True, room=room_name))
        .to_jwt()
    )
    resume_window = agent.turn_detection.false_interruption_timeout + RESUME_MARGIN
    async with api.LiveKitAPI(endpoint.http_url, endpoint.api_key, endpoint.api_secret) as lkapi:
        await lkapi.room.create_room(api.CreateRoomRequest(name=room_name, empty_timeout=30))
        room = rtc.Room()
        listener = AgentListener()
        listener.attach(room)
        inbox = MetricsInbox()
        inbox.attach(room)
        mic = Microphone(room)
        try:
            await room.connect(endpoint.url, token, rtc.RoomOptions(auto_subscribe=True))
            await mic.start()
            dispatched = time.monotonic()
            await lkapi.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=stack.config.agent_name,
                    room=room_name,
                    metadata=agent.to_metadata(),
                )
            )
            greeting = await listener.next_speech(after=dispatched, start_timeout=60, end_silence=1)
            if greeting is None:
                return [
                    {
                        "kind": t.kind,
                        "clip": t.spoken.clip.id,
                        "outcome": "invalid",
                        "why": "no greeting",
                    }
                    for t in trials
                ]
            records = []
            for trial in trials:
                record = await room_turn(
                    mic,
                    listener,
                    inbox,
                    model,
                    trial,
                    after=after,
                    stop_timeout=stop_timeout,
                    resume_window=resume_window,
                )
                print(f"    {describe(record)}", file=sys.stderr, flush=True)
                records.append(record)
            return records
        finally:
            await mic.aclose()
            await listener.aclose()
            await room.disconnect()
            with contextlib.suppress(api.TwirpError):
                await lkapi.room.delete_room(api.DeleteRoomRequest(room=room_name))


def describe(record: dict[str, Any]) -> str:
    """One line per trial for the progress log."""
    line = f"{record['kind']:<11} {record['clip']:<40} {record['outcome']}"
    if record.get("why"):
        line += f" ({record['why']})"
    if record.get("quiet_after_s") is not None:
        line += f", quiet after {ms(record['quiet_after_s'])} ms"
    if record.get("paused_s") is not None:
        line += f" (VAD {ms(record['vad_start_s'])}, paused {ms(record['paused_s'])})"
    if record.get("pause_s") is not None:
        line += f", back after {ms(record['pause_s'])} ms"
    if record.get("answered"):
        line += f", answered {record['answered']}"
    return line


async def worker_idle(port: int, within: float = 60.0) -> None:
    """Wait until the worker runs no call (a finished call's job lingers a few seconds)."""

    def active() -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/worker", timeout=5) as resp:
                # protobuf JSON leaves out a count of 0
                return int(json.loads(resp.read()).get("active_jobs", 0))
        except (OSError, ValueError):
            return None

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(active) == 0:
            return
        await asyncio.sleep(0.5)


def room_agent(vad_name: str, hold: float, min_interruption: float) -> AgentConfig:
    """The agent under test: the local voice and STT, the fake model (the deployment's OpenAI
    endpoint), the turn settings."""
    return AgentConfig(
        name="Turn-taking benchmark",
        first_message="Hello.",
        llm_model=LLM_MODEL,
        max_completion_tokens=400,
        voice_id="local:en_US-joe-medium",
        turn_detection=TurnDetection(
            vad=vad_name,
            min_silence_duration=hold,
            min_interruption_duration=min_interruption,
            timeout=60,
            end_call_on_silence=600,
        ),
    )


def summarize_room(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Barge-in stop latency and misses; what the backchannels did to the reply."""
    valid = [r for r in records if r["outcome"] != "invalid"]
    barge = [r for r in valid if r["kind"] == "barge_in"]
    back = [r for r in valid if r["kind"] == "backchannel"]
    words = [r for r in back if r["sound"] == "word"]
    sounds = [r for r in back if r["sound"] != "word"]

    def share(selected: list[dict[str, Any]], outcome: str) -> float | None:
        return rate(r["outcome"] == outcome for r in selected)

    stopped = [r for r in barge if r["stop_s"] is not None]

    def stage(key: str) -> dict[str, float | None]:
        return quantiles([r[key] for r in stopped if r.get(key) is not None])

    return {
        "barge_in": {
            "stop_s": quantiles([r["stop_s"] for r in stopped]),
            # the stop in three stages: media in + VAD onset, VAD -> pause, pause -> quiet
            "vad_start_s": stage("vad_start_s"),
            "paused_s": stage("paused_s"),
            "heard_after_pause_s": quantiles(
                [r["stop_s"] - r["paused_s"] for r in stopped if r.get("paused_s") is not None]
            ),
            "missed": sum(r["stop_s"] is None for r in barge),
            "resumed": sum(r["outcome"] == "resumed" for r in barge),
            "answered": sum(bool(r["answered"]) for r in barge),
            "n": len(barge),
        },
        "backchannel": {
            "false_interruption": share(back, "lost"),
            "hiccup": share(back, "resumed"),
            "not_stopped": share(back, "not_stopped"),
            "false_interruption_words": share(words, "lost"),
            "false_interruption_sounds": share(sounds, "lost"),
            "hiccup_words": share(words, "resumed"),
            "hiccup_sounds": share(sounds, "resumed"),
            "pause_s": quantiles([r["pause_s"] for r in back if r["pause_s"] is not None]),
            "answered": sum(bool(r["answered"]) for r in back),
            "n": len(back),
        },
        "invalid": len(records) - len(valid),
    }


async def room_run(
    stack: Stack,
    model: ScriptedModel,
    settings: list[tuple[str, float, float]],
    trials: list[Trial],
    *,
    turns_per_call: int,
    after: float,
    stop_timeout: float,
) -> list[dict[str, Any]]:
    """Every configuration over the same trials, `turns_per_call` turns per call."""
    rows = []
    for vad_name, hold, minimum in settings:
        started = time.perf_counter()
        agent = room_agent(vad_name, hold, minimum)
        print(f"  {vad_name} hold {hold:g} s, min interruption {minimum:g} s", file=sys.stderr)
        records: list[dict[str, Any]] = []
        for i in range(0, len(trials), turns_per_call):
            await worker_idle(stack.config.worker_http_port)
            batch = trials[i : i + turns_per_call]
            records += await room_call(
                stack, agent, batch, model, after=after, stop_timeout=stop_timeout
            )
        elapsed = time.perf_counter() - started
        print(f"  ... {elapsed:.0f} s", file=sys.stderr)
        rows.append(
            {
                "vad": vad_name,
                "hold_s": hold,
                "min_interruption_s": minimum,
                "false_interruption_timeout_s": agent.turn_detection.false_interruption_timeout,
                **summarize_room(records),
                "elapsed_s": elapsed,
                "trials": records,
            }
        )
    return rows


def room_report(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the in-room run."""

    def split(b: dict[str, Any], key: str) -> str:
        return f"{pct(b[key])} ({pct(b[f'{key}_words'])} / {pct(b[f'{key}_sounds'])})"

    lines = []
    for r in rows:
        barge, back = r["barge_in"], r["backchannel"]
        lines.append(
            [
                r["vad"],
                f"{r['hold_s']:g}",
                f"{r['min_interruption_s']:g}",
                ms(barge["stop_s"]["p50"]),
                ms(barge["stop_s"]["p95"]),
                f"{barge['missed']}",
                f"{barge['resumed']}",
                split(back, "false_interruption"),
                split(back, "hiccup"),
                pct(back["not_stopped"]),
                f"{barge['n']} / {back['n']}"
                + (f" ({r['invalid']} invalid)" if r["invalid"] else ""),
            ]
        )
    return "\n".join(
        [
            "### In a room: barge-in stop latency; backchannels over the reply "
            "(in brackets: words / coughs and clicks)",
            "",
            table(
                [
                    "VAD",
                    "hold s",
                    "min interruption s",
                    "stop p50 ms",
                    "stop p95 ms",
                    "barge-ins missed",
                    "barge-ins resumed",
                    "false interruption",
                    "hiccup",
                    "not stopped",
                    "n barge-in / backchannel",
                ],
                lines,
            ),
            "",
            "Where the stop goes (p50 / p95 ms from the barge-in's onset, on the worker's "
            "clock): its VAD declares the caller speaking; the agent's audio is paused; "
            "from the pause to the quiet the caller hears.",
            "",
            table(
                ["VAD", "hold s", "min interruption s", "VAD start", "paused", "pause -> quiet"],
                [
                    [
                        r["vad"],
                        f"{r['hold_s']:g}",
                        f"{r['min_interruption_s']:g}",
                        *(
                            f"{ms(r['barge_in'][k]['p50'])} / {ms(r['barge_in'][k]['p95'])}"
                            for k in ("vad_start_s", "paused_s", "heard_after_pause_s")
                        ),
                    ]
                    for r in rows
                ],
            ),
        ]
    )


def main_room(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """`--in-room`: every configuration through livekit-server and the worker."""
    names = args.vads.split(",") if args.vads else list(ROOM_VADS)
    if unknown := [n for n in names if n not in ROOM_VADS]:
        parser.error(
            f"unknown in-room VAD {', '.join(unknown)}; choose from {', '.join(ROOM_VADS)}"
        )
    holds = args.holds or ROOM_HOLDS
    minimums = args.min_interruptions or ROOM_MIN_INTERRUPTIONS
    settings = [(n, h, m) for n in names for h in holds for m in minimums]
    out = args.out or ROOT / "benchmarks/results/turn_taking_room.json"

    started = time.perf_counter()
    manifest = ensure_corpus(args.corpus)
    trials = plan_trials(load_clips(args.corpus, manifest, True), args.trials, args.seed)
    model = ScriptedModel()
    # The fake answers every call; the embedded LLM (only the model's fallback) stays off.
    with FakeOpenAI(api_keys=[OPENAI_KEY], replies=model) as fake:
        assert fake.base_url is not None
        config = StackConfig(
            **ROOM_PORTS,
            agent_name=ROOM_AGENT,
            log_dir=ROOT / ".cache/logs/bench-turn-taking",
            worker_env={"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": fake.base_url},
        )
        with Stack(config, llm=False) as stack:
            rows = asyncio.run(
                room_run(
                    stack,
                    model,
                    settings,
                    trials,
                    turns_per_call=args.turns_per_call,
                    after=args.after,
                    stop_timeout=args.stop_timeout,
                )
            )
    elapsed = time.perf_counter() - started

    print(
        f"{len(settings)} configurations x ({args.trials} barge-ins + {args.trials} "
        f"backchannels), {args.turns_per_call} turns per call, interjections {args.after:g} s "
        f"into a {len(LONG_REPLY.split())}-word reply, {elapsed:.0f} s"
    )
    print()
    print(room_report(rows))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "turn_taking_room",
                "corpus": {"dir": str(args.corpus), "version": manifest["version"]},
                "clips": {
                    kind: [t.spoken.clip.id for t in trials if t.kind == kind]
                    for kind in ("barge_in", "backchannel")
                },
                "trials_per_kind": args.trials,
                "turns_per_call": args.turns_per_call,
                "interject_after_s": args.after,
                "stop_quiet_s": STOP_QUIET,
                "stop_timeout_s": args.stop_timeout,
                "llm_model": LLM_MODEL,
                "reply": LONG_REPLY,
                "elapsed_s": elapsed,
                "rows": rows,
            },
            indent=2,
        )
    )


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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
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
                "min_interruptions_s": list(thresholds),
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
