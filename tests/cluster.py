"""A LiveKit cluster on one machine, for the scale-out tests.

Two `livekit-server` nodes share one Redis (LiveKit's multi-node mode: rooms, signal relay and
agent dispatch go between nodes over Redis). HAProxy stands in front of them as a deployment's
load balancer would: it sends connections to node B while B passes its health checks, and to
node A once B is down. `worker-a` connects to node A directly; `worker-b`, the control planes
and their callers go through the balancer. So while both nodes run there is one worker on each
node, and a worker whose node dies finds the other node behind the same URL.

Each node hosts the rooms of the callers that reached it (LiveKit's region-aware node selector,
each node a region of its own): a node that crashed stays in Redis' node list as available for
up to 5 s (`AvailableSeconds` in livekit-server), and a room placed on it then would fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

from simulator.stack import (
    DEFAULT_LIVEKIT_BIN,
    ROOT,
    ManagedProcess,
    StackError,
    ensure_port_free,
    http_ok,
    livekit_keys,
    stop_together,
)

LOG_DIR = ROOT / ".cache" / "logs" / "tests" / "cluster"
AGENT_NAME = "voice-agent-cluster"
REGISTERED = "registered worker"
"""livekit-agents logs this, with the node's region, each time its worker (re)registers."""
FULL = "worker is at full capacity"
AVAILABLE = "worker is below capacity"
"""livekit-agents logs these as it tells LiveKit the worker's status changed."""


@dataclass(frozen=True)
class Node:
    """One livekit-server of the cluster: its signal port, its WebRTC UDP port; its name is
    also its region."""

    name: str
    port: int
    udp_port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


NODE_A = Node("a", 7990, 7991)
NODE_B = Node("b", 7992, 7993)
NODES = {n.name: n for n in (NODE_A, NODE_B)}
BALANCER_PORT = 7994
BALANCER_URL = f"ws://127.0.0.1:{BALANCER_PORT}"
BALANCER_SOCKET = Path(tempfile.gettempdir()) / f"voice-agents-haproxy-{BALANCER_PORT}.sock"
"""Its stats socket (outside the checkout: a Unix socket's path is at most 107 bytes)."""


@dataclass(frozen=True)
class WorkerSpec:
    """Where a worker connects, the node it reaches there while both run, its health port."""

    url: str
    home: str
    http_port: int


WORKERS = {
    "worker-a": WorkerSpec(NODE_A.url, "a", 8182),
    "worker-b": WorkerSpec(BALANCER_URL, "b", 8183),
}


def node_config(node: Node, redis_address: str) -> dict:
    """livekit.yaml with the node's ports, the shared Redis and a region of its own."""
    conf = yaml.safe_load((ROOT / "livekit.yaml").read_text())
    conf["port"] = node.port
    conf["rtc"]["udp_port"] = node.udp_port
    conf["redis"] = {"address": redis_address}
    conf["region"] = node.name
    conf["node_selector"] = {
        "kind": "regionaware",
        "regions": [
            {"name": n.name, "lat": 0.0, "lon": float(i)} for i, n in enumerate(NODES.values())
        ],
    }
    conf["logging"] = {"level": "info"}  # which worker each node registered and assigned
    return conf


def balancer_config(port: int, primary: Node, backup: Node, stats_socket: Path) -> str:
    """HAProxy in TCP mode: `primary` while it passes its health checks, else `backup`."""
    check = "check inter 200ms fall 1 rise 2"
    return "\n".join(
        [
            "global",
            f"    stats socket {stats_socket}",
            "defaults",
            "    mode tcp",
            "    timeout connect 1s",
            "    timeout client 1h",
            "    timeout server 1h",
            "    retries 2",
            "    option redispatch",
            "frontend livekit",
            f"    bind 127.0.0.1:{port}",
            "    default_backend nodes",
            "backend nodes",
            f"    server {primary.name} 127.0.0.1:{primary.port} {check}",
            f"    server {backup.name} 127.0.0.1:{backup.port} {check} backup",
            "",
        ]
    )


def balancer_status(stats_socket: Path = BALANCER_SOCKET) -> dict[str, str]:
    """Each node's state as the balancer sees it (`UP`, `DOWN`...), from its stats socket."""
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(2)
            conn.connect(str(stats_socket))
            conn.sendall(b"show stat\n")
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
    except OSError:
        return {}
    lines = data.decode().splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    fields = lines[0][2:].split(",")
    status: dict[str, str] = {}
    for line in lines[1:]:
        row = dict(zip(fields, line.split(","), strict=False))
        if row.get("pxname") == "nodes" and row.get("svname") in NODES:
            status[row["svname"]] = row.get("status", "")
    return status


class LogCursor:
    """What a process wrote to its log after the cursor was made."""

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process
        self.offset = _size(process.log_path)

    def lines_with(self, *needles: str) -> list[str]:
        try:
            with self.process.log_path.open("rb") as log:
                log.seek(self.offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if all(n in line for n in needles)]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_lines_with(process: ManagedProcess, *needles: str) -> list[str]:
    try:
        text = process.log_path.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if all(n in line for n in needles)]


def region_of(line: str) -> str | None:
    """The `region` field of a log line (JSON or `key=value` text)."""
    found = re.search(r"\bregion\"?\s*[:=]\s*\"?(\w+)", line)
    return found.group(1) if found else None


def registered_regions(worker: ManagedProcess) -> list[str | None]:
    """The node (region) of each of the worker's registrations, in order."""
    return [region_of(line) for line in log_lines_with(worker, REGISTERED)]


def has_registered(worker: ManagedProcess) -> bool:
    return bool(registered_regions(worker))


def reported_available(worker: ManagedProcess) -> bool:
    """The worker's last status report to LiveKit (if any since it started) was available."""
    reports = [line for line in log_lines_with(worker) if FULL in line or AVAILABLE in line]
    return not reports or AVAILABLE in reports[-1]


def idle(worker: ManagedProcess, http_port: int) -> bool:
    """No call on the worker (its health endpoint), and LiveKit was told it is available: a
    call that just ended keeps a worker full until its next status report."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/worker", timeout=5) as resp:
            active = json.loads(resp.read()).get("active_jobs", 0)  # left out when 0
    except (OSError, ValueError):
        return False
    return active == 0 and reported_available(worker)


class Cluster:
    """The cluster's processes; nodes and workers die and start again as tests need."""

    def __init__(self, *, redis_address: str, worker_env: Mapping[str, str]) -> None:
        self.redis_address = redis_address
        self.worker_env = dict(worker_env)
        self.key, self.secret = livekit_keys()
        self.nodes: dict[str, ManagedProcess] = {}
        self.workers: dict[str, ManagedProcess] = {}
        self.worker_settings: dict[str, dict[str, str]] = {}
        self.balancer: ManagedProcess | None = None
        self._starts: dict[str, int] = {}

    def _log_path(self, name: str) -> Path:
        """A new log file for each start of `name`, so a restart keeps the previous one."""
        self._starts[name] = self._starts.get(name, 0) + 1
        return LOG_DIR / f"{name}-{self._starts[name]}.log"

    def start_node(self, name: str) -> ManagedProcess:
        node = NODES[name]
        if not DEFAULT_LIVEKIT_BIN.is_file():
            raise StackError(f"livekit-server not found at {DEFAULT_LIVEKIT_BIN}: run `make setup`")
        ensure_port_free(node.port, f"livekit node {name}", "(fixed in tests/cluster.py)")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        conf_path = LOG_DIR / f"livekit-{name}.yaml"
        conf_path.write_text(yaml.safe_dump(node_config(node, self.redis_address)))
        proc = ManagedProcess(
            f"livekit-{name}",
            [str(DEFAULT_LIVEKIT_BIN), "--config", str(conf_path)],
            self._log_path(f"livekit-{name}"),
            dict(os.environ),
        )
        proc.start()
        self.nodes[name] = proc
        proc.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{node.port}/"),
            30,
            f"livekit node {name} does not answer on port {node.port}",
        )
        return proc

    def kill_node(self, name: str) -> None:
        """The node dies (SIGKILL): no goodbye to Redis, to its workers or to its rooms."""
        self.nodes.pop(name).kill()

    def start_balancer(self) -> ManagedProcess:
        exe = shutil.which("haproxy")
        if exe is None:
            raise StackError("haproxy not found: install the Debian package haproxy (make setup)")
        ensure_port_free(BALANCER_PORT, "the load balancer", "(fixed in tests/cluster.py)")
        conf_path = LOG_DIR / "haproxy.cfg"
        conf_path.write_text(balancer_config(BALANCER_PORT, NODE_B, NODE_A, BALANCER_SOCKET))
        proc = ManagedProcess(
            "haproxy",
            [exe, "-db", "-f", str(conf_path)],
            self._log_path("haproxy"),
            dict(os.environ),
        )
        proc.start()
        self.balancer = proc
        proc.wait_until(
            lambda: balancer_status() == {"a": "UP", "b": "UP"},
            20,
            "the load balancer does not see both nodes up",
        )
        return proc

    def ensure(self, workers: Mapping[str, Mapping[str, str]]) -> None:
        """Both nodes up; exactly `workers` running, each with its settings and registered
        with its home node (others stopped, and any that differ started again)."""
        for name in NODES:
            if not _alive(self.nodes.get(name)):
                self.start_node(name)
        wanted = {n: dict(env) for n, env in workers.items()}
        stale = [
            n
            for n, p in self.workers.items()
            if _alive(p)
            and (
                self.worker_settings.get(n) != wanted.get(n)
                or registered_regions(p)[-1:] != [WORKERS[n].home]
            )
        ]
        stop_together([self.workers.pop(n) for n in stale])
        self.start_workers({n: env for n, env in wanted.items() if not _alive(self.workers.get(n))})
        for name in wanted:
            worker = self.workers[name]
            port = WORKERS[name].http_port
            worker.wait_until(partial(idle, worker, port), 120, f"{name} is still busy")

    def start_workers(self, workers: Mapping[str, dict[str, str]]) -> None:
        """Start `workers` together; each must register with its home node."""
        if not workers:
            return
        # A worker behind the balancer reaches node B only once the balancer sees B again.
        assert self.balancer is not None
        self.balancer.wait_until(
            lambda: balancer_status().get("b") == "UP", 20, "the balancer does not see node B up"
        )
        started = [self._spawn_worker(n, env) for n, env in workers.items()]
        for name, proc in started:
            proc.wait_until(
                partial(has_registered, proc), 180, f"{name} did not register with LiveKit"
            )
            region = registered_regions(proc)[-1]
            if region != WORKERS[name].home:
                raise StackError(f"{name} registered with node {region}, not its home node")

    def _spawn_worker(self, name: str, env: dict[str, str]) -> tuple[str, ManagedProcess]:
        spec = WORKERS[name]
        ensure_port_free(spec.http_port, f"{name}'s health endpoint", "(tests/cluster.py)")
        proc = ManagedProcess(
            name,
            [sys.executable, "-m", "agent_worker", "start", "--log-level", "INFO"],
            self._log_path(name),
            {
                **os.environ,
                "LIVEKIT_URL": spec.url,
                "LIVEKIT_API_KEY": self.key,
                "LIVEKIT_API_SECRET": self.secret,
                "VOICE_AGENT_NAME": AGENT_NAME,
                "WORKER_HTTP_PORT": str(spec.http_port),
                **self.worker_env,
                **env,
            },
        )
        proc.start()
        self.workers[name] = proc
        self.worker_settings[name] = env
        return name, proc

    def stop(self) -> None:
        """Workers first (they leave their rooms), then the nodes and the balancer."""
        stop_together(list(self.workers.values()))
        balancer = [self.balancer] if self.balancer else []
        stop_together([*self.nodes.values(), *balancer])
        self.workers.clear()
        self.nodes.clear()
        self.balancer = None


def _alive(proc: ManagedProcess | None) -> bool:
    return proc is not None and proc.proc is not None and proc.proc.poll() is None
