"""The offline run's markdown tables."""

from __future__ import annotations

from typing import Any

from benchmarks.turns.common import ms, pct, table
from benchmarks.turns.offline_metrics import (
    TARGET_MAX_CUTOFF,
    TARGET_MAX_FALSE_INTERRUPTION,
    TARGET_MAX_HOLD,
    TARGET_MIN_TRUE_INTERRUPTION,
)


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
