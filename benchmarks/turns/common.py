"""What the offline and the in-room turn-taking runs share: the corpus clips with their ground
truth, shares and quantiles, and the markdown tables and JSON files their results go to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.turns.sounds import RATE
from shared.stats import percentile
from simulator.audio import read_wav

FRAME_MS = 10


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


def rate(flags: Iterable[bool]) -> float | None:
    """Share of true flags (None when there are none)."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def quantiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and count."""
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "n": len(values)}


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def write_results(out: Path, results: dict[str, Any]) -> None:
    """`results` as indented JSON in `out`, its folder made first."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
