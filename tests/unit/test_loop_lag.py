"""The call loop's lateness, as the worker publishes it and a caller reads it per turn."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent_worker.telemetry import LoopLag
from shared import telemetry
from simulator.caller import MetricsInbox


async def test_a_blocked_loop_is_reported_late_and_a_free_one_is_not() -> None:
    reports: list[telemetry.LoopLag] = []
    got = asyncio.Event()

    def publish(report: telemetry.LoopLag) -> None:
        reports.append(report)
        got.set()

    lag = LoopLag(publish)
    lag.start()
    try:
        await got.wait()  # a first second with the loop free
        got.clear()
        await asyncio.sleep(0)
        time.sleep(0.3)  # noqa: ASYNC251  (the point: the loop is held, as by a busy call)
        await got.wait()
    finally:
        await lag.aclose()
    free, blocked = reports[0], reports[-1]
    assert blocked.max >= 0.25, reports
    assert 0 <= blocked.mean <= blocked.max, reports
    assert free.max < blocked.max, reports
    assert abs(blocked.at - time.time()) < 5
    # What a caller receives is the same report.
    assert telemetry.decode(blocked.encode()) == blocked


def test_a_turn_reads_the_worst_lag_reported_during_it() -> None:
    inbox = MetricsInbox()
    inbox.items += [
        (1.0, telemetry.LoopLag(max=0.2, mean=0.1, at=0)),
        (2.0, telemetry.LoopLag(max=0.05, mean=0.01, at=0)),
        (3.0, telemetry.LoopLag(max=0.08, mean=0.03, at=0)),
        (4.0, telemetry.LoopLag(max=0.5, mean=0.2, at=0)),
    ]
    turn = inbox.between(1.5, 4.0)
    assert turn["loop_lag_max"] == 0.08
    assert turn["loop_lag_mean"] == pytest.approx(0.02)
    assert "loop_lag_max" not in inbox.between(5.0, 6.0)
