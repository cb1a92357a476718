"""ProcessSampler on real process trees, and the window summaries on fabricated series."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from shared.stats import percentile
from simulator.procstats import (
    MACHINE,
    MB,
    ProcessSampler,
    slope,
    summarize_samples,
    summarize_series,
)

INTERVAL = 0.1
ALLOC_MB = 200

BUSY = """
import time
end = time.monotonic() + 1.5
while time.monotonic() < end:
    pass
print(f"cpu {time.process_time()}", flush=True)
"""

# Waits for "go", runs BUSY in a child (which shares its stdout), reports, then waits for EOF.
SPAWNS_BUSY = f"""
import subprocess, sys
sys.stdin.readline()
child = subprocess.Popen([sys.executable, "-c", {BUSY!r}])
print(f"child {{child.pid}}", flush=True)
child.wait()
print("done", flush=True)
sys.stdin.read()
"""

ALLOCATES = f"""
import sys
print("ready", flush=True)
sys.stdin.readline()
held = b"x" * ({ALLOC_MB} * 2**20)
print("allocated", flush=True)
sys.stdin.readline()
"""

# A root whose only work is a child that inherits its stdin and stdout.
SPAWNS_ALLOCATOR = f"""
import subprocess, sys
sys.exit(subprocess.call([sys.executable, "-c", {ALLOCATES!r}]))
"""

IDLE = "import sys; sys.stdin.read()"


class Child:
    """A Python subprocess driven over its stdin, with its stdout lines read by a thread."""

    def __init__(self, code: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float = 10.0) -> str:
        line = self.lines.get(timeout=timeout)
        assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
        return line

    def close(self) -> None:
        """Close stdin (the scripts exit on EOF) and reap the process."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def spawn() -> Iterator[Callable[[str], Child]]:
    children: list[Child] = []

    def start(code: str) -> Child:
        child = Child(code)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
        child.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def samples_after(sampler: ProcessSampler, name: str, t: float, n: int = 1) -> None:
    """Wait until series `name` has n samples taken after time t."""
    wait_for(lambda: sum(s["t"] > t for s in sampler.samples()[name]) >= n)


def cpu_seconds(series: list[dict[str, Any]]) -> float:
    """Core-seconds of CPU in a series: each sample covers the time since the one before."""
    total, previous = 0.0, 0.0
    for s in series:
        total += s["cpu_percent"] / 100.0 * (s["t"] - previous)
        previous = s["t"]
    return total


def test_tree_cpu_includes_a_child_started_during_sampling(
    spawn: Callable[[str], Child],
) -> None:
    idle = spawn(IDLE)
    root = spawn(SPAWNS_BUSY)
    with ProcessSampler({"tree": root.pid, "idle": idle.pid}, interval=INTERVAL) as sampler:
        samples_after(sampler, "tree", 0.0, n=2)
        t_go = sampler.elapsed()
        sampler.mark("go")
        root.send("go")
        root.expect("child ")
        child_cpu = float(root.expect("cpu ").split()[1])
        root.expect("done")
        t_done = sampler.elapsed()
        samples_after(sampler, "tree", t_done, n=2)

        tree = sampler.samples()["tree"]
        # The busy child was counted in the root's tree while it ran, and only then.
        assert max(s["processes"] for s in tree) == 2
        assert all(s["processes"] == 1 for s in tree if s["t"] < t_go)
        assert tree[-1]["processes"] == 1
        # Its CPU time shows up in the tree, including the first interval after it started
        # (when psutil's cpu_percent has no baseline yet); at most the interval in which it
        # exited is lost.
        measured = cpu_seconds(tree)
        assert child_cpu - 2 * INTERVAL - 0.05 <= measured <= child_cpu + 0.15, (
            measured,
            child_cpu,
        )
        window = sampler.summary(since=t_go, until=t_done)
        # The window's mean is the child's CPU time spread over the window. How much CPU the
        # child got depends on the machine's other work, so no fixed percentage is expected.
        window_cpu = window["tree"]["cpu_mean"] / 100 * (t_done - t_go)
        assert window_cpu >= child_cpu - 2 * INTERVAL - 0.1, (window_cpu, child_cpu)
        assert window["tree"]["cpu_p95"] >= window["tree"]["cpu_mean"] > 0.0
        assert window["idle"]["cpu_mean"] < 5.0
        assert window["idle"]["processes_max"] == 1

        # The root exits: its series ends without errors, the other series go on.
        root.close()
        t_exit = sampler.elapsed()
        samples_after(sampler, MACHINE, t_exit, n=2)
        ended = len(sampler.samples()["tree"])
        idle_before = len(sampler.samples()["idle"])
        samples_after(sampler, MACHINE, sampler.elapsed(), n=3)
        assert len(sampler.samples()["tree"]) == ended
        assert len(sampler.samples()["idle"]) >= idle_before + 2
        assert sampler.running
    assert not sampler.running
    assert sampler.marks == [{"t": pytest.approx(t_go, abs=0.01), "label": "go"}]

    machine = sampler.samples()[MACHINE]
    cores = psutil.cpu_count()
    assert machine and all(0 <= s["cpu_percent"] <= 100 * cores + 1 for s in machine)
    # The machine had a core busy: its CPU (100 = one core) exceeded the idle process's by far.
    assert max(s["cpu_percent"] for s in machine) > 40.0
    assert all(s["rss_bytes"] > 0 and s["processes"] > 2 for s in machine)


def test_tree_rss_follows_a_childs_allocation(spawn: Callable[[str], Child]) -> None:
    root = spawn(SPAWNS_ALLOCATOR)
    sampler = ProcessSampler({"tree": root.pid}, interval=INTERVAL).start()
    try:
        root.expect("ready")
        t_ready = sampler.elapsed()
        samples_after(sampler, "tree", t_ready, n=3)
        t_alloc = sampler.elapsed()
        root.send("alloc")
        root.expect("allocated")
        t_held = sampler.elapsed()
        samples_after(sampler, "tree", t_held, n=3)
        t_end = sampler.elapsed()
        root.send("exit")
        root.close()
    finally:
        sampler.stop()

    before = sampler.summary(since=t_ready, until=t_alloc)["tree"]
    after = sampler.summary(since=t_held, until=t_end)["tree"]
    assert before["processes_max"] == 2 and after["processes_max"] == 2
    assert before["samples"] >= 3 and after["samples"] >= 3
    rise = after["rss_start_mb"] - before["rss_end_mb"]
    assert 0.85 * ALLOC_MB <= rise <= 1.3 * ALLOC_MB, rise

    # The summary window selects exactly the samples in [since, until).
    series = sampler.samples()["tree"]
    inside = [s for s in series if t_held <= s["t"] < t_end]
    assert after["samples"] == len(inside)
    assert after["rss_start_mb"] == inside[0]["rss_bytes"] / MB
    assert after["rss_end_mb"] == inside[-1]["rss_bytes"] / MB
    assert after["rss_max_mb"] == max(s["rss_bytes"] for s in inside) / MB


def test_a_root_gone_before_start_has_no_samples(spawn: Callable[[str], Child]) -> None:
    gone = spawn(IDLE)
    gone.close()
    alive = spawn(IDLE)
    with ProcessSampler({"gone": gone.pid, "alive": alive.pid}, interval=INTERVAL) as sampler:
        samples_after(sampler, "alive", 0.0, n=2)
    series = sampler.samples()
    assert series["gone"] == []
    assert [s["processes"] for s in series["alive"]][:2] == [1, 1]
    summary = sampler.summary()
    assert summary["gone"]["samples"] == 0 and summary["gone"]["cpu_mean"] is None
    assert summary["alive"]["samples"] >= 2


def test_sampler_rejects_the_reserved_name_and_double_start() -> None:
    with pytest.raises(ValueError):
        ProcessSampler({MACHINE: 1})
    sampler = ProcessSampler({}, interval=INTERVAL).start()
    try:
        with pytest.raises(RuntimeError):
            sampler.start()
    finally:
        sampler.stop()


def series(points: list[tuple[float, float, float]]) -> list[dict[str, Any]]:
    """Samples from (t, cpu %, rss MB) triples."""
    return [
        {"t": t, "cpu_percent": cpu, "rss_bytes": int(rss * MB), "processes": 2}
        for t, cpu, rss in points
    ]


def test_summary_windows_and_growth() -> None:
    # RSS grows 0.5 MB per second (1800 MB/hour) from 100 MB; CPU is 10 * t.
    data = series([(t, 10.0 * t, 100.0 + 0.5 * t) for t in range(10)])
    whole = summarize_series(data)
    assert whole["samples"] == 10
    assert whole["cpu_mean"] == pytest.approx(45.0)
    assert whole["cpu_p95"] == pytest.approx(85.5)
    assert whole["rss_start_mb"] == pytest.approx(100.0)
    assert whole["rss_end_mb"] == pytest.approx(104.5)
    assert whole["rss_max_mb"] == pytest.approx(104.5)
    assert whole["rss_mean_mb"] == pytest.approx(102.25)
    assert whole["rss_growth_mb_per_hour"] == pytest.approx(1800.0, rel=1e-4)

    window = summarize_series(data, since=3.0, until=6.0)
    assert window["samples"] == 3
    assert window["cpu_mean"] == pytest.approx(40.0)
    assert window["rss_start_mb"] == pytest.approx(101.5)
    assert window["rss_end_mb"] == pytest.approx(102.5)
    assert summarize_series(data, since=8.0)["samples"] == 2
    assert summarize_series(data, since=8.0)["rss_growth_mb_per_hour"] is None
    assert summarize_series(data, until=0.0)["cpu_mean"] is None

    # Flat RSS with noise around it: no growth.
    flat = series([(t, 5.0, 300.0 + (1 if t % 2 else -1)) for t in range(20)])
    assert abs(summarize_series(flat)["rss_growth_mb_per_hour"]) < 400.0
    both = summarize_samples({"a": data, "b": flat}, since=2.0, until=4.0)
    assert both["a"]["samples"] == 2 and both["b"]["samples"] == 2
    assert both["b"]["cpu_mean"] == pytest.approx(5.0)


def test_percentile_and_slope() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0], 0.95) == pytest.approx(1.95)
    assert percentile([], 0.5) is None
    assert slope([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(2.0)
    assert slope([1.0], [1.0]) is None
    assert slope([2.0, 2.0], [1.0, 3.0]) is None


def test_a_root_inside_another_roots_tree_counts_only_under_its_own_name(
    spawn: Callable[[str], Child],
) -> None:
    """The load driver samples itself and the servers it started (its children) by name:
    the allocator's memory must show under "allocator", not also under "driver"."""
    root = spawn(SPAWNS_ALLOCATOR)
    root.expect("ready")
    allocator = psutil.Process(root.pid).children()[0].pid
    sampler = ProcessSampler({"driver": root.pid, "allocator": allocator}, interval=INTERVAL)
    sampler.start()
    try:
        root.send("alloc")
        root.expect("allocated")
        t_held = sampler.elapsed()
        samples_after(sampler, "driver", t_held, n=3)
        samples_after(sampler, "allocator", t_held, n=3)
        t_end = sampler.elapsed()
        root.send("exit")
        root.close()
    finally:
        sampler.stop()

    held = sampler.summary(since=t_held, until=t_end)
    assert held["driver"]["processes_max"] == 1
    assert held["allocator"]["processes_max"] == 1
    assert held["allocator"]["rss_end_mb"] >= 0.85 * ALLOC_MB
    assert held["driver"]["rss_end_mb"] < 0.5 * ALLOC_MB
