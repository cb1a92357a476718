"""CPU and memory of named process trees, sampled in a background thread during a load run.

A load test has to say what each part of the stack costs: the agent worker with its job
processes, livekit-server, the LLM server. `ProcessSampler` samples each named root and all of
its current descendants every `interval` seconds, plus the machine as a whole, from a thread so
the driver's asyncio loop is never blocked. `summarize_samples` turns the series into means,
percentiles and RSS growth over any time window, for the report and for one capacity step.

Units: `cpu_percent` is percent of one core (100 = one core fully busy, so a 4-core machine can
reach 400); memory is in bytes in samples and in MB (2**20 bytes) in summaries.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import psutil

from shared.stats import percentile

logger = logging.getLogger(__name__)

MACHINE = "machine"
"""Key of the machine-wide series: all cores, memory in use, every process."""

MB = 1024 * 1024


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than 2 points or no spread in xs."""
    n = len(xs)
    if n != len(ys):
        raise ValueError("xs and ys differ in length")
    if n < 2:
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def in_window(t: float, since: float | None, until: float | None) -> bool:
    """Whether time t lies in the half-open window [since, until); None leaves a side open."""
    return (since is None or t >= since) and (until is None or t < until)


def summarize_series(
    series: Sequence[Mapping[str, Any]], since: float | None = None, until: float | None = None
) -> dict[str, Any]:
    """CPU and RSS figures of one sample series over the window [since, until).

    Keys: samples, cpu_mean, cpu_p95 (percent of one core), rss_start_mb, rss_end_mb,
    rss_mean_mb, rss_max_mb, rss_growth_mb_per_hour (least-squares slope; None with fewer than
    3 samples) and processes_max. Figures are None when the window holds no sample.
    """
    window = [s for s in series if in_window(s["t"], since, until)]
    cpu = [s["cpu_percent"] for s in window if s.get("cpu_percent") is not None]
    mem = [(s["t"], s["rss_bytes"] / MB) for s in window if s.get("rss_bytes") is not None]
    procs = [s["processes"] for s in window if s.get("processes") is not None]
    growth = None
    if len(mem) >= 3:
        per_second = slope([t for t, _ in mem], [m for _, m in mem])
        growth = None if per_second is None else per_second * 3600.0
    return {
        "samples": len(window),
        "cpu_mean": sum(cpu) / len(cpu) if cpu else None,
        "cpu_p95": percentile(cpu, 0.95),
        "rss_start_mb": mem[0][1] if mem else None,
        "rss_end_mb": mem[-1][1] if mem else None,
        "rss_mean_mb": sum(m for _, m in mem) / len(mem) if mem else None,
        "rss_max_mb": max(m for _, m in mem) if mem else None,
        "rss_growth_mb_per_hour": growth,
        "processes_max": max(procs) if procs else None,
    }


def summarize_samples(
    samples: Mapping[str, Sequence[Mapping[str, Any]]],
    since: float | None = None,
    until: float | None = None,
) -> dict[str, dict[str, Any]]:
    """`summarize_series` for every named series (the shape of `ProcessSampler.samples()`)."""
    return {name: summarize_series(series, since, until) for name, series in samples.items()}


class _Tree:
    """The psutil.Process objects of one named tree, kept across samples.

    psutil's `cpu_percent()` measures from the previous call on the same object, so the objects
    must survive between samples; a pid is only trusted while its (pid, start time) identity
    holds, which guards against pid reuse.
    """

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.procs: dict[int, psutil.Process] = {}
        self.alive = True

    def members(
        self, kids: Mapping[int, list[int]], nested: Mapping[int, set[int]] | None = None
    ) -> list[psutil.Process]:
        """The root and its current descendants (`kids`: the machine's parent pid -> child
        pids, read once per sample), with cached objects reused while their identity holds; a
        descendant that is another sampled root (`nested`: root pid -> its tree's pids) is left
        out with its own tree, which is counted under its own name."""
        current = descendants(self.root.pid, kids)
        skip: set[int] = set()
        for pid, pids in (nested or {}).items():
            if pid != self.root.pid and pid in current:
                skip |= pids
        members = [self.root]
        for pid in current[1:]:
            if pid in skip:
                continue
            cached = self.procs.get(pid)
            try:
                members.append(
                    cached if cached is not None and cached.is_running() else psutil.Process(pid)
                )
            except psutil.Error:
                continue
        return members


def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from one pass over the machine's processes."""
    kids: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        ppid = proc.info.get("ppid")
        if ppid is not None:
            kids.setdefault(ppid, []).append(proc.pid)
    return kids


def descendants(root: int, kids: Mapping[int, list[int]]) -> list[int]:
    """`root` and every process below it, root first."""
    out, todo = [root], [root]
    while todo:
        for child in kids.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out


class ProcessSampler:
    """Samples CPU and RSS of named process trees and of the machine in a background thread.

    `ProcessSampler({"worker": 1234, "livekit-server": 999}, interval=1.0)`; `start()` and
    `stop()`, or use it as a context manager. Each sample of a tree covers its root and every
    descendant alive at that moment: processes started later are picked up, processes that
    exit are dropped, and a root that exits stops its series. A root inside another root's tree
    (a server the driver started) counts under its own name only. The series named `MACHINE`
    ("machine") has the whole machine's CPU (100 = one core), memory in use (total - available)
    in `rss_bytes` and the number of processes.
    """

    def __init__(self, pids: Mapping[str, int], interval: float = 1.0) -> None:
        if MACHINE in pids:
            raise ValueError(f"{MACHINE!r} is reserved for the machine-wide series")
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.pids = dict(pids)
        self.interval = interval
        self._lock = threading.Lock()
        self._samples: dict[str, list[dict[str, Any]]] = {name: [] for name in self.pids}
        self._samples[MACHINE] = []
        self._marks: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0: float | None = None
        self._ready = threading.Event()

    def __enter__(self) -> ProcessSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ProcessSampler:
        """Start sampling; returns once every tree has its CPU baseline (a few milliseconds)."""
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        """Stop sampling and wait for the thread; the samples stay readable."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def elapsed(self) -> float:
        """Seconds since `start()` on the clock of the samples' `t`."""
        if self._t0 is None:
            return 0.0
        return time.monotonic() - self._t0

    def mark(self, label: str) -> None:
        """Record a named moment (e.g. "step 8 calls"), drawn as a line on the resource plot."""
        with self._lock:
            self._marks.append({"t": self.elapsed(), "label": label})

    @property
    def marks(self) -> list[dict[str, Any]]:
        """A copy of the marks, each {"t": seconds since start, "label": str}."""
        with self._lock:
            return [dict(m) for m in self._marks]

    def samples(self) -> dict[str, list[dict[str, Any]]]:
        """A copy of every series: name -> [{"t", "cpu_percent", "rss_bytes", "processes"}]."""
        with self._lock:
            return {name: [dict(s) for s in series] for name, series in self._samples.items()}

    def summary(
        self, since: float | None = None, until: float | None = None
    ) -> dict[str, dict[str, Any]]:
        """`summarize_samples` of this sampler's series over [since, until) (seconds)."""
        return summarize_samples(self.samples(), since, until)

    def _run(self) -> None:
        trees: dict[str, _Tree] = {}
        try:
            for name, pid in self.pids.items():
                try:
                    root = psutil.Process(pid)
                except psutil.Error:
                    logger.warning("process %s (pid %d) is not running: not sampled", name, pid)
                    continue
                trees[name] = _Tree(root)
            psutil.cpu_percent()  # the machine-wide baseline is kept per calling thread
            for tree in trees.values():
                self._measure(tree, dt=None)
        except Exception:
            logger.exception("process sampler failed to start")
        finally:
            self._ready.set()
        assert self._t0 is not None
        previous = time.monotonic()
        tick = 1
        while not self._stop.wait(max(0.0, self._t0 + tick * self.interval - time.monotonic())):
            tick = max(tick + 1, math.floor((time.monotonic() - self._t0) / self.interval) + 1)
            try:
                now = time.monotonic()
                dt = now - previous
                previous = now
                taken: dict[str, dict[str, Any]] = {MACHINE: self._machine()}
                kids = children_by_parent()
                nested = self._tree_pids(trees, kids)
                for name, tree in trees.items():
                    if tree.alive:
                        sample = self._measure(tree, dt, kids, nested)
                        if sample is not None:
                            taken[name] = sample
                # Stamped once read: a sample dated before a moment was read entirely before
                # it (on a busy machine a round can take longer than its interval). Not
                # rounded: a stamp rounded up could fall after a moment taken once it was read.
                t = time.monotonic() - self._t0
                with self._lock:
                    for name, sample in taken.items():
                        self._samples[name].append({"t": t, **sample})
            except Exception:
                logger.exception("process sample failed")

    @staticmethod
    def _machine() -> dict[str, Any]:
        memory = psutil.virtual_memory()
        return {
            "cpu_percent": round(psutil.cpu_percent() * (psutil.cpu_count() or 1), 1),
            "rss_bytes": memory.total - memory.available,
            "processes": len(psutil.pids()),
        }

    @staticmethod
    def _tree_pids(
        trees: Mapping[str, _Tree], kids: Mapping[int, list[int]]
    ) -> dict[int, set[int]]:
        """Each live root's pid -> the pids of its tree, so an ancestor root can leave it out."""
        return {
            tree.root.pid: set(descendants(tree.root.pid, kids))
            for tree in trees.values()
            if tree.alive
        }

    @staticmethod
    def _measure(
        tree: _Tree,
        dt: float | None,
        kids: Mapping[int, list[int]] | None = None,
        nested: Mapping[int, set[int]] | None = None,
    ) -> dict[str, Any] | None:
        """One sample of a tree; None (and the tree retired) once its root has exited.

        A process not seen in the previous sample was started since then, so all of its CPU
        time so far falls inside this interval: it is counted from `cpu_times()`, because
        `cpu_percent()` returns 0.0 on its first call for an object.
        """
        try:
            if tree.root.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(tree.root.pid)
            members = tree.members(children_by_parent() if kids is None else kids, nested)
        except psutil.Error:
            tree.alive = False
            tree.procs.clear()
            return None
        cpu = 0.0
        rss = 0
        count = 0
        kept: dict[int, psutil.Process] = {}
        for proc in members:
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue
                    seen = tree.procs.get(proc.pid) is proc
                    if seen or dt is None:
                        share = proc.cpu_percent()
                    else:
                        times = proc.cpu_times()
                        proc.cpu_percent()
                        share = 100.0 * (times.user + times.system) / dt if dt > 0 else 0.0
                    mem = proc.memory_info().rss
            except psutil.Error:
                continue
            kept[proc.pid] = proc
            cpu += share
            rss += mem
            count += 1
        tree.procs = kept
        if count == 0:
            tree.alive = False
            return None
        return {"cpu_percent": round(cpu, 1), "rss_bytes": rss, "processes": count}
