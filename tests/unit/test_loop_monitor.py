"""The worker runs without livekit-agents' event-loop monitor unless asked for it."""

from __future__ import annotations

import pytest
from livekit.agents.telemetry.loop_monitor import LoopMonitorThresholds

from agent_worker.main import LOOP_MONITOR_ENV, quiet_loop_monitor


def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset for this test, restored after it (set first, so that the undo also removes
    what the code under test sets)."""
    monkeypatch.setenv(LOOP_MONITOR_ENV, "100")
    monkeypatch.delenv(LOOP_MONITOR_ENV)


def test_the_monitor_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    unset(monkeypatch)
    assert LoopMonitorThresholds.from_env() is not None  # the framework's default: on
    quiet_loop_monitor()
    assert LoopMonitorThresholds.from_env() is None


def test_an_explicit_threshold_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_MONITOR_ENV, "250")
    quiet_loop_monitor()
    thresholds = LoopMonitorThresholds.from_env()
    assert thresholds is not None and thresholds.warn == 0.25
