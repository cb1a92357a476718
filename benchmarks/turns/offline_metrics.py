"""The offline metrics of one VAD at one hold: false cut-offs, what the hold costs, missed
speech, and the interruptions the livekit-agents rule would make; and which settings meet the
targets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from benchmarks.turns.common import Clip, quantiles, rate
from benchmarks.turns.vads import Trace

TARGET_MAX_CUTOFF = 0.05
TARGET_MAX_HOLD = 0.6
TARGET_MAX_FALSE_INTERRUPTION = 0.10
TARGET_MIN_TRUE_INTERRUPTION = 0.95


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
