"""What the in-room turn-taking benchmark reads from the agent's audio at the caller."""

from __future__ import annotations

import numpy as np

from benchmarks.turns.room_call import longest_quiet
from simulator.caller import backed_off


def frames(levels: list[float], start: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    return start + np.arange(len(levels)) * 0.01, np.array(levels)


def test_a_lowered_voice_counts_as_backing_off_once_it_stays_low():
    # a second of speech at -20 dBFS, a 100 ms dip (a word break), then 0.6 s at -42 (ducked)
    times, levels = frames([-20.0] * 100 + [-60.0] * 10 + [-20.0] * 20 + [-42.0] * 60)
    onset = float(times[99])
    backoff = backed_off(times, levels, onset)
    assert backoff is not None
    assert abs(backoff - (float(times[130]) - onset)) < 1e-9, "the word break is not a back-off"
    # never lowered enough: no back-off
    times, levels = frames([-20.0] * 100 + [-28.0] * 80)
    assert backed_off(times, levels, float(times[99])) is None


def test_the_longest_quiet_is_one_the_reply_comes_back_from():
    loud = np.array([True] * 10 + [False] * 30 + [True] * 10 + [False] * 50)
    times = np.arange(len(loud)) * 0.01
    assert abs(longest_quiet(times, loud, 0.0, 1.0) - 0.30) < 1e-9
    # a quiet under way when the window opens counts from there
    assert abs(longest_quiet(times, loud, 0.2, 1.0) - 0.20) < 1e-9
    # the quiet at the end is one the reply never comes back from
    assert longest_quiet(times, loud, 0.5, 1.0) == 0.0
