"""The control plane's cost per call: CPU and memory of a real control-plane process while a
driver starts calls through it, reads them back and has it deliver webhook events.

A call's share of the control plane is small and happens at its edges: `POST /conversations`
(a store row and a LiveKit token; the caller joining with the token dispatches the worker),
reads of the record by the API's clients, and the delivery of the call's webhook events (the
worker writes them to the outbox in the store; the control plane's dispatcher signs and posts
them). The worker writes the call's messages and heartbeats into the store itself: that is
the database's load, not the control plane's. So the driver measures, each phase timed by
the process's own CPU time (user + system):

  idle      nothing asked: the background jobs (webhook outbox poll, reaper, retention)
  start     N x POST /conversations, C at a time
  read      N x GET /conversations/{id}
  update    N x PUT /voice-agents/{id}, no webhook subscribed
  deliver   N x PUT /voice-agents/{id} with a webhook subscribed: each also delivers one
            signed `agent.updated` event to a local receiver (the phase ends when all
            arrived); minus `update`, the cost of one delivery

on SQLite (the default store; with PostgreSQL the queries' own work moves to its server).

    .venv/bin/python benchmarks/control_plane_calls.py --calls 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.stack import admin, control_plane_process  # noqa: E402

PORT = 9396
"""Clear of the load tester's ports (93xx) and the test suite's."""
RECEIVER_PORT = 9397
EVENTS_PER_CALL_FIXED = 2
"""conversation.started and conversation.ended (or .failed); plus one message.received per
message said, the caller's and the agent's."""


class Meter:
    """CPU seconds (user + system) and RSS of one process, read between phases."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)

    def cpu_seconds(self) -> float:
        times = self.proc.cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        return self.proc.memory_info().rss / 2**20


async def phase(
    meter: Meter, n: int, limit: int, one: Callable[[int], Awaitable[None]]
) -> dict[str, float]:
    """Run `one(i)` for i < n, `limit` at a time; the CPU it cost the control plane."""
    gate = asyncio.Semaphore(limit)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    cpu, t0 = meter.cpu_seconds(), time.monotonic()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    seconds = time.monotonic() - t0
    used = meter.cpu_seconds() - cpu
    return {
        "requests": n,
        "seconds": seconds,
        "cpu_seconds": used,
        "cpu_ms_per_request": 1000 * used / n,
        "requests_per_second": n / seconds,
        "rss_mb": meter.rss_mb(),
    }


async def receiver(port: int, expected: int) -> tuple[web.AppRunner, list[float], asyncio.Event]:
    """A local webhook receiver that answers 200 and notes when each delivery came; the event
    is set once `expected` deliveries arrived."""
    arrived: list[float] = []
    done = asyncio.Event()

    async def hook(_request: web.Request) -> web.Response:
        arrived.append(time.monotonic())
        if len(arrived) >= expected:
            done.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, arrived, done


async def drive(api: str, key: str, meter: Meter, n: int, limit: int, idle: float) -> dict:
    results: dict[str, Any] = {"rss_mb_at_start": meter.rss_mb()}
    headers = {"x-api-key": key}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as client:
        agent = (
            await client.post(
                "/voice-agents", json={"name": "Bench", "voice_id": "v", "active": True}
            )
        ).json()
        cpu = meter.cpu_seconds()
        await asyncio.sleep(idle)
        used = meter.cpu_seconds() - cpu
        results["idle"] = {"seconds": idle, "cpu_percent": 100 * used / idle}
        ids: list[str] = []

        async def start(i: int) -> None:
            resp = await client.post(
                "/conversations", json={"agent_id": agent["id"], "user_id": f"caller-{i}"}
            )
            resp.raise_for_status()
            ids.append(resp.json()["conversation_id"])

        async def read(i: int) -> None:
            (await client.get(f"/conversations/{ids[i]}")).raise_for_status()

        async def update(i: int) -> None:
            body = {"first_message": f"Hello, caller {i}."}
            (await client.put(f"/voice-agents/{agent['id']}", json=body)).raise_for_status()

        results["start"] = await phase(meter, n, limit, start)
        results["read"] = await phase(meter, n, limit, read)
        results["update"] = await phase(meter, n, limit, update)
        runner, arrived, all_arrived = await receiver(RECEIVER_PORT, n)
        try:
            hook = {"url": f"http://127.0.0.1:{RECEIVER_PORT}/hook", "events": ["agent.updated"]}
            (await client.post("/webhooks", json=hook)).raise_for_status()
            cpu, t0 = meter.cpu_seconds(), time.monotonic()
            puts = await phase(meter, n, limit, update)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_arrived.wait(), 120)
            used = meter.cpu_seconds() - cpu
            seconds = time.monotonic() - t0
        finally:
            await runner.cleanup()
        delivered = len(arrived)
        results["deliver"] = {
            **puts,
            "delivered": delivered,
            "seconds": seconds,
            "cpu_seconds": used,
            "cpu_ms_per_request": 1000 * used / n,
            "cpu_ms_per_delivery": (
                1000 * (used - results["update"]["cpu_seconds"]) / delivered if delivered else None
            ),
        }
    results["rss_mb_at_end"] = meter.rss_mb()
    return results


def per_call(results: dict[str, Any], turns: int, minutes: float) -> dict[str, float]:
    """What one call of `turns` turns, lasting `minutes`, costs the control plane: its start,
    one read, and its webhook events when a subscription takes them all."""
    events = EVENTS_PER_CALL_FIXED + 2 * turns
    ms = results["start"]["cpu_ms_per_request"] + results["read"]["cpu_ms_per_request"]
    with_hooks = ms + events * (results["deliver"]["cpu_ms_per_delivery"] or 0.0)
    return {
        "turns": turns,
        "minutes": minutes,
        "events": events,
        "cpu_ms": ms,
        "cpu_ms_with_webhooks": with_hooks,
        # % of one core per concurrent call: its CPU spread over its length
        "cpu_percent_per_concurrent_call": 100 * with_hooks / 1000 / (60 * minutes),
        "call_starts_per_core_second": 1000 / ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--turns", type=int, default=10, help="turns of the call costed")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the call costed")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/control_plane.json")
    args = parser.parse_args()

    log_dir = ROOT / ".cache/logs/bench"
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'store.db'}"
        env = {
            "RATE_LIMIT": "1000000/minute",
            "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",  # the receiver is on loopback
            "DATA_DIR": tmp,
        }
        proc = control_plane_process(
            PORT, database_url=database_url, log_path=log_dir / "control-plane.log", env=env
        )
        try:
            key = admin(database_url, "create-company", "Bench")["api_key"]
            assert proc.proc is not None
            meter = Meter(proc.proc.pid)
            api = f"http://127.0.0.1:{PORT}"
            load = os.getloadavg()
            results = asyncio.run(
                drive(api, key, meter, args.calls, args.concurrency, args.idle_seconds)
            )
        finally:
            proc.stop()
    cost = per_call(results, args.turns, args.minutes)
    for name in ("start", "read", "update", "deliver"):
        r = results[name]
        print(
            f"{name:<8} {r['requests']} requests in {r['seconds']:.1f} s: "
            f"{r['cpu_ms_per_request']:.1f} ms of CPU each ({r['requests_per_second']:.0f}/s)"
        )
    print(f"one webhook delivery: {results['deliver']['cpu_ms_per_delivery']:.1f} ms of CPU")
    print(
        f"idle: {results['idle']['cpu_percent']:.1f}% of a core; RSS "
        f"{results['rss_mb_at_start']:.0f} -> {results['rss_mb_at_end']:.0f} MB"
    )
    print(
        f"a call of {args.turns} turns over {args.minutes:g} min: {cost['cpu_ms']:.0f} ms of CPU "
        f"(start + one read), {cost['cpu_ms_with_webhooks']:.0f} ms with its {cost['events']} "
        f"webhook events: {cost['cpu_percent_per_concurrent_call']:.3f}% of a core per "
        f"concurrent call; {cost['call_starts_per_core_second']:.0f} call starts per core-second"
    )
    payload = {
        "benchmark": "control_plane_calls",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
        "config": vars(args) | {"out": str(args.out)},
        "results": results,
        "per_call": cost,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
