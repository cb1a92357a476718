"""What the simulated caller concludes from the agent audio it received."""

from __future__ import annotations

from simulator.caller import AgentListener


def listener_with(frames: list[tuple[float, bool]]) -> AgentListener:
    listener = AgentListener(keep_audio=False)
    for t, loud in frames:
        listener._times.append(t)
        listener._loud.append(loud)
    return listener


def test_audible_between_looks_only_inside_the_window() -> None:
    # agent speaks until 1.0 s, is silent until 2.0 s, speaks again
    frames = [(i / 50, not (1.0 < i / 50 <= 2.0)) for i in range(1, 151)]
    listener = listener_with(frames)
    assert listener.audible_between(0.5, 1.0)
    assert not listener.audible_between(1.0, 2.0)  # a barge-in here has nothing to stop
    assert listener.audible_between(1.5, 2.02)
    assert not listener.audible_between(5.0, 6.0)  # no frames at all
