"""The load tester through a real livekit-server and worker: concurrent callers, each turn
measured at the caller, barge-ins timed, processes sampled, the report written."""

from __future__ import annotations

import json

import pytest

from simulator.load import LoadPlan, Providers, run_compare, run_load

pytestmark = pytest.mark.e2e

PORTS = {"livekit_port": 9480, "livekit_udp_port": 9482, "llm_port": 9488, "worker_http_port": 9481}
FAKE_PORTS = {"fake-openai": 9491, "fake-elevenlabs": 9492}
REPLY = "Of course, a table for three at seven tonight, by the window. Anything else?"
"""About 4 s of speech: long enough to barge in 1.5 s into it, short enough for a quick test."""


def test_concurrent_calls_are_measured_and_reported(tmp_path) -> None:
    providers = Providers(kind="network", stt_ms=50, ttft_ms=100, ttfb_ms=50, reply=REPLY)
    plan = LoadPlan(calls=3, turns=3, barge_in_every=3, ramp=0.2, providers=providers)
    paths = run_load(plan, tmp_path, ports=PORTS, fake_ports=FAKE_PORTS)

    report = json.loads(paths["report.json"].read_text())
    calls = report["calls"]
    assert len(calls) == 3
    assert not [c for c in calls if c["dropped"]], calls
    assert all(c["turns_done"] == 3 and c["join_time"] is not None for c in calls), calls

    turns = report["turns"]
    assert len(turns) == 9
    assert not [t for t in turns if t["missed"]], turns
    # The agent cannot answer before its hold (0.6 s; the endpointing delay runs inside it)
    # and the fake providers' latencies (0.2 s) have passed, nor (on an idle machine) much later.
    floor = plan.hold_ms() / 1000 + providers.latency_ms / 1000
    for t in turns:
        assert floor - 0.05 < t["voice_to_voice"] < 5.0, t
    barge_ins = [t for t in turns if t["barge_in"]]
    assert len(barge_ins) == 3  # the third turn of each call
    assert all(0 < t["barge_in_stop"] < 1.5 for t in barge_ins), barge_ins
    # the worker reports pausing after the onset, by the time the caller hears it stop (the
    # quiet may begin in a dip of the reply just before the pause reaches the caller)
    assert all(0 < t["barge_in_pause"] < t["barge_in_stop"] + 0.1 for t in barge_ins), barge_ins
    # the caller hears the agent back off (duck) before its voice is gone
    assert all(0 < t["barge_in_backoff"] <= t["barge_in_stop"] for t in barge_ins), barge_ins
    assert max(t["concurrent"] for t in turns) >= 2  # the calls overlapped
    # each turn carries how late its call's loop ran in the worker (published every second)
    assert all(0 <= t["agent_metrics"]["loop_lag_max"] < 5 for t in turns), turns

    worker = report["processes"]["worker"]
    assert worker and max(s["rss_bytes"] for s in worker) > 100 * 2**20
    summary = report["summary"]
    assert summary  # latency, per-step and capacity figures computed from the run
    markdown = paths["summary.md"].read_text()
    assert "| 3 |" in markdown  # the step of 3 concurrent calls
    assert paths["latency_cdf.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_peers_answer_the_same_calls_and_are_compared(tmp_path) -> None:
    """Stock livekit-agents, Pipecat and the bare SDK (the media floor) take the same scripted
    calls as our runtime, on the same fake providers, and the comparison puts their figures
    side by side with ratios."""
    providers = Providers(kind="network", stt_ms=50, ttft_ms=100, ttfb_ms=50, reply=REPLY)
    plan = LoadPlan(calls=1, turns=3, barge_in_every=3, providers=providers)
    runtimes = ["ours", "livekit-agents", "pipecat", "bare"]
    paths = run_compare(plan, runtimes, tmp_path, ports=PORTS, fake_ports=FAKE_PORTS)

    for runtime in runtimes:
        report = json.loads((tmp_path / runtime / "report.json").read_text())
        assert report["config"]["runtime"] == runtime
        (call,) = report["calls"]
        assert not call["dropped"] and call["turns_done"] == 3, (runtime, call)
        turns = report["turns"]
        assert not [t for t in turns if t["missed"]], (runtime, turns)
        # no runtime answers before its own hold and the providers' latencies have passed
        floor = (report["config"]["hold_ms"] + providers.latency_ms) / 1000
        assert all(floor - 0.05 < t["voice_to_voice"] < 8.0 for t in turns), (runtime, turns)
        (barge_in,) = [t for t in turns if t["barge_in"]]
        assert 0 < barge_in["barge_in_stop"] < 2.0, (runtime, barge_in)

    comparison = json.loads(paths["compare.json"].read_text())
    assert comparison["baseline"] == "ours"
    assert set(comparison["ratios"]) == {"livekit-agents", "pipecat", "bare"}
    for peer, ratios in comparison["ratios"].items():
        assert ratios["voice_to_voice_p50_ms"] > 0, peer
        assert ratios["worker_cpu_per_call"] > 0, peer
    assert "| v2v p50 ms |" in paths["compare.md"].read_text()


def test_redialling_soak_replaces_each_call(tmp_path) -> None:
    """With `call_turns`, a caller hangs up after that many turns and dials again until the
    run's duration is over; the report counts every call and what the worker kept of each."""
    providers = Providers(kind="network", stt_ms=50, ttft_ms=100, ttfb_ms=50, reply=REPLY)
    plan = LoadPlan(
        mode="soak",
        calls=1,
        turns=None,
        call_turns=1,
        duration=35.0,
        barge_in_every=0,
        providers=providers,
    )
    paths = run_load(plan, tmp_path, ports=PORTS, fake_ports=FAKE_PORTS)

    report = json.loads(paths["report.json"].read_text())
    calls = report["calls"]
    assert len(calls) >= 3, calls  # ~10 s a call: greeting, one turn, hang up
    assert not [c for c in calls if c["dropped"]], calls
    assert all(c["turns_done"] == 1 for c in calls[:-1]), calls
    assert len({c["room"] for c in calls}) == len(calls)  # a new room each time
    # the calls followed one another on the one line
    ends = [c["ended_at"] for c in calls]
    assert all(calls[i + 1]["started_at"] >= ends[i] for i in range(len(calls) - 1))
    assert report["summary"]["rss_growth_per_ended_call_mb"] is not None


def test_calls_over_phone_lines_are_measured_and_reported(tmp_path) -> None:
    """`--phone`: the callers dial a number through the fake Twilio; the control plane, the
    phone gateway and our worker answer; the same figures come back, measured at the phones."""
    providers = Providers(kind="network", stt_ms=50, ttft_ms=100, ttfb_ms=50, reply=REPLY)
    plan = LoadPlan(calls=2, turns=3, barge_in_every=3, ramp=0.2, providers=providers, phone=True)
    paths = run_load(plan, tmp_path, ports=PORTS, fake_ports=FAKE_PORTS)

    report = json.loads(paths["report.json"].read_text())
    assert report["config"]["phone"] is True
    calls = report["calls"]
    assert len(calls) == 2 and not [c for c in calls if c["dropped"]], calls
    assert all(c["turns_done"] == 3 and c["room"].startswith("conv_") for c in calls), calls
    turns = report["turns"]
    assert len(turns) == 6 and not [t for t in turns if t["missed"]], turns
    floor = plan.hold_ms() / 1000 + providers.latency_ms / 1000
    assert all(floor - 0.05 < t["voice_to_voice"] < 5.0 for t in turns), turns
    barge_ins = [t for t in turns if t["barge_in"]]
    assert len(barge_ins) == 2
    assert all(0 < t["barge_in_stop"] < 2.0 for t in barge_ins), barge_ins
    assert all(0 < t["barge_in_backoff"] <= t["barge_in_stop"] for t in barge_ins), barge_ins
    # the gateway and the control plane are sampled beside the worker
    assert report["processes"]["phone-gateway"] and report["processes"]["control-plane"]
