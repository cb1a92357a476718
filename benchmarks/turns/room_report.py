"""The in-room run's summary per configuration and its markdown tables."""

from __future__ import annotations

from typing import Any

from benchmarks.turns.common import ms, pct, quantiles, rate, table


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
            # lowered or silent, whichever the caller hears first
            "backoff_s": quantiles(
                [r["backoff_s"] for r in barge if r.get("backoff_s") is not None]
            ),
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
            # the reply cut off, or a quiet over 300 ms longer than the reply's own longest
            # pause before the onset (its clause and sentence breaks are ~0.45 s of quiet)
            "silent_over_300ms": rate(
                r["outcome"] == "lost"
                or r.get("silence_s", 0.0) - r.get("natural_silence_s", 0.0) > 0.3
                for r in back
            ),
            "silence_s": quantiles([r["silence_s"] for r in back if "silence_s" in r]),
            "natural_silence_s": quantiles(
                [r["natural_silence_s"] for r in back if "natural_silence_s" in r]
            ),
            "answered": sum(bool(r["answered"]) for r in back),
            "n": len(back),
        },
        "invalid": len(records) - len(valid),
    }


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
                f"{r.get('duck_s', 0.0):g}",
                ms(barge["stop_s"]["p50"]),
                ms(barge["stop_s"]["p95"]),
                ms(barge["backoff_s"]["p95"]),
                f"{barge['missed']}",
                f"{barge['resumed']}",
                split(back, "false_interruption"),
                split(back, "hiccup"),
                pct(back["not_stopped"]),
                pct(back["silent_over_300ms"]),
                f"{ms(back['silence_s']['p50'])} / {ms(back['natural_silence_s']['p50'])}",
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
                    "duck s",
                    "stop p50 ms",
                    "stop p95 ms",
                    "backed off p95 ms",
                    "barge-ins missed",
                    "barge-ins resumed",
                    "false interruption",
                    "hiccup",
                    "not stopped",
                    "silent > 300 ms beyond its pauses",
                    "longest quiet p50 ms (reply's own)",
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
                [
                    "VAD",
                    "hold s",
                    "min interruption s",
                    "duck s",
                    "VAD start",
                    "paused",
                    "pause -> quiet",
                ],
                [
                    [
                        r["vad"],
                        f"{r['hold_s']:g}",
                        f"{r['min_interruption_s']:g}",
                        f"{r.get('duck_s', 0.0):g}",
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
