"""Start and stop the local stack: livekit-server, the embedded LLM server and the worker.

Used by `make run`, the integration/e2e tests and the benchmarks. Every failure to start is a
`StackError` whose one-line message names the cause and the fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .caller import LiveKitEndpoint

ROOT = Path(__file__).resolve().parent.parent
LIVEKIT_SERVER_VERSION = "v1.13.5"
DEFAULT_LIVEKIT_BIN = ROOT / ".cache" / "bin" / f"livekit-server-{LIVEKIT_SERVER_VERSION}"


LLM_NICENESS = 5


class StackError(RuntimeError):
    """A part of the stack could not start; the message says why and what to do."""


@dataclass(frozen=True)
class StackConfig:
    """Ports and options of one local stack."""

    livekit_port: int = 7880
    livekit_udp_port: int = 7882
    llm_port: int = 8088
    worker_http_port: int = 8081
    agent_name: str = "voice-agent"
    log_dir: Path = ROOT / ".cache" / "logs"
    livekit_bin: Path = DEFAULT_LIVEKIT_BIN
    llm_threads: int = 2
    worker_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> StackConfig:
        env = os.environ
        return cls(
            livekit_port=int(env.get("LIVEKIT_PORT", 7880)),
            livekit_udp_port=int(env.get("LIVEKIT_UDP_PORT", 7882)),
            llm_port=int(env.get("LLM_PORT", 8088)),
            worker_http_port=int(env.get("WORKER_HTTP_PORT", 8081)),
            agent_name=env.get("VOICE_AGENT_NAME", "voice-agent"),
            livekit_bin=Path(env.get("LIVEKIT_SERVER_BIN", DEFAULT_LIVEKIT_BIN)),
        )

    @property
    def livekit_url(self) -> str:
        return f"ws://127.0.0.1:{self.livekit_port}"

    @property
    def llm_base_url(self) -> str:
        return f"http://127.0.0.1:{self.llm_port}/v1"


def livekit_keys(config_path: Path = ROOT / "livekit.yaml") -> tuple[str, str]:
    """The (first) API key pair of livekit.yaml."""
    keys = yaml.safe_load(config_path.read_text())["keys"]
    key, secret = next(iter(keys.items()))
    return str(key), str(secret)


def ensure_port_free(port: int, what: str, env_var: str, udp: bool = False) -> None:
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        if not udp:  # servers set SO_REUSEADDR: connections in TIME_WAIT do not block them
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(
                f"port {port} is busy, needed by {what}: stop what uses it "
                f"(`ss -ltnup | grep :{port}`) or choose another with {env_var}=<port>"
            ) from None


def http_ok(url: str) -> bool:
    """True if `url` answers with a 2xx status within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError):
        return False


class ManagedProcess:
    """A child process with its output in a log file, stopped with its process group."""

    def __init__(
        self, name: str, cmd: list[str], log_path: Path, env: dict[str, str], nice: int = 0
    ) -> None:
        self.name = name
        self.nice = nice
        self.cmd = cmd
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None,
        )
        log.close()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float, hint: str) -> None:
        """Poll `ready` until true; fail fast if the process dies."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise StackError(
                    f"{self.name} exited with code {self.proc.returncode} "
                    f"(log {self.log_path}): {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StackError(f"{self.name} not ready after {timeout:.0f}s: {hint}")
            time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        stop_together([self], timeout)

    def terminate(self) -> bool:
        """Ask the process group to stop (SIGTERM); False if it had already exited."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        return True

    def kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def log_contains(self, needle: str) -> bool:
        try:
            return needle in self.log_path.read_text(errors="replace")
        except OSError:
            return False


def stop_together(processes: list[ManagedProcess], timeout: float = 15.0) -> None:
    """SIGTERM to each, then one shared `timeout` for all of them to exit before SIGKILL: a
    stack stops within about `timeout` per tier, not per process."""
    asked = [p for p in processes if p.terminate()]
    deadline = time.monotonic() + timeout
    for p in asked:
        assert p.proc is not None
        try:
            p.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def fake_openai_process(port: int, log_path: Path, *options: str) -> ManagedProcess:
    """Start the fake OpenAI (`python -m fake_providers.openai`, its `options`) on `port` and
    wait until it answers."""
    proc = ManagedProcess(
        "fake-openai",
        [sys.executable, "-m", "fake_providers.openai", "--port", str(port), *options],
        log_path,
        dict(os.environ),
    )
    proc.start()
    try:
        proc.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/_fake/requests"), 60, "no fake OpenAI"
        )
    except BaseException:
        proc.stop()
        raise
    return proc


def admin(database_url: str, *args: str) -> Any:
    """`python -m control_plane <args>` (the admin command), its JSON output."""
    out = subprocess.run(
        [sys.executable, "-m", "control_plane", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


def control_plane_process(
    port: int, *, database_url: str, log_path: Path, env: dict[str, str] | None = None
) -> ManagedProcess:
    """Start `python -m control_plane serve` and wait until it answers."""
    ensure_port_free(port, "the control plane", "CONTROL_PLANE_PORT")
    proc = ManagedProcess(
        "control-plane",
        [sys.executable, "-m", "control_plane", "serve"],
        log_path,
        {
            **os.environ,
            "CONTROL_PLANE_HOST": "127.0.0.1",
            "CONTROL_PLANE_PORT": str(port),
            "DATABASE_URL": database_url,
            **(env or {}),
        },
    )
    proc.start()
    try:
        proc.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/openapi.json"),
            60,
            f"the control plane does not answer on port {port}",
        )
    except BaseException:
        proc.stop()
        raise
    return proc


def gateway_process(port: int, *, livekit_url: str, log_path: Path) -> ManagedProcess:
    """Start the phone gateway (`python -m telephony`) and wait until it answers."""
    ensure_port_free(port, "the phone gateway", "GATEWAY_PORT")
    proc = ManagedProcess(
        "phone-gateway",
        [sys.executable, "-m", "telephony"],
        log_path,
        {
            **os.environ,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "LIVEKIT_URL": livekit_url,
        },
    )
    proc.start()
    try:
        proc.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/health"),
            30,
            f"the phone gateway does not answer on port {port}",
        )
    except BaseException:
        proc.stop()
        raise
    return proc


def redis_ok(port: int) -> bool:
    """A Redis server answers PING on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_process(port: int, *, log_path: Path) -> ManagedProcess:
    """Start a throwaway `redis-server` (Debian's package; nothing saved to disk) on
    127.0.0.1:`port` and wait until it answers; its URL is `redis://127.0.0.1:<port>/0`."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise StackError(
            "redis-server not found: install the Debian package redis-server (`make setup` does)"
        )
    ensure_port_free(port, "Redis", "TEST_REDIS_PORT")
    proc = ManagedProcess(
        "redis",
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        log_path,
        dict(os.environ),
    )
    proc.start()
    try:
        proc.wait_until(lambda: redis_ok(port), 20, f"Redis does not answer on port {port}")
    except BaseException:
        proc.stop()
        raise
    return proc


class Stack:
    """The local stack; `start()` brings up the parts in order and waits for each."""

    def __init__(
        self,
        config: StackConfig | None = None,
        *,
        livekit: bool = True,
        llm: bool = True,
        worker: bool = True,
    ) -> None:
        self.config = config or StackConfig.from_env()
        self.key, self.secret = livekit_keys()
        self._want_livekit = livekit
        self._want_llm = llm
        self._want_worker = worker
        self.processes: dict[str, ManagedProcess] = {}

    @property
    def endpoint(self) -> LiveKitEndpoint:
        return LiveKitEndpoint(self.config.livekit_url, self.key, self.secret)

    def start(self) -> Stack:
        try:
            if self._want_livekit:
                self._start_livekit()
            if self._want_llm:
                self.start_llm()
            if self._want_worker:
                self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_livekit(self) -> None:
        c = self.config
        if not c.livekit_bin.is_file():
            raise StackError(
                f"livekit-server not found at {c.livekit_bin}: run `make setup` "
                f"(go install github.com/livekit/livekit-server/cmd/server@"
                f"{LIVEKIT_SERVER_VERSION}) or set LIVEKIT_SERVER_BIN"
            )
        ensure_port_free(c.livekit_port, "livekit-server", "LIVEKIT_PORT")
        ensure_port_free(c.livekit_udp_port, "livekit-server (UDP)", "LIVEKIT_UDP_PORT", udp=True)
        conf = yaml.safe_load((ROOT / "livekit.yaml").read_text())
        conf["port"] = c.livekit_port
        conf["rtc"]["udp_port"] = c.livekit_udp_port
        c.log_dir.mkdir(parents=True, exist_ok=True)
        conf_path = c.log_dir / f"livekit-{c.livekit_port}.yaml"
        conf_path.write_text(yaml.safe_dump(conf))
        proc = ManagedProcess(
            "livekit-server",
            [str(c.livekit_bin), "--config", str(conf_path)],
            c.log_dir / f"livekit-{c.livekit_port}.log",
            dict(os.environ),
        )
        proc.start()
        self.processes["livekit"] = proc
        proc.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{c.livekit_port}/"),
            30,
            f"livekit-server does not answer on port {c.livekit_port}",
        )

    def start_llm(self) -> None:
        from pipelines import llama_server_command

        c = self.config
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise StackError(
                "llama-cpp-python is not installed: run `make setup` "
                "(it builds llama.cpp once, about 5 minutes)"
            ) from None
        ensure_port_free(c.llm_port, "the embedded LLM server", "LLM_PORT")
        proc = ManagedProcess(
            "llm-server",
            llama_server_command(host="127.0.0.1", port=c.llm_port, n_threads=c.llm_threads),
            c.log_dir / f"llm-{c.llm_port}.log",
            dict(os.environ),
            # On a small machine the worker's STT/TTS are on the critical path whenever they
            # run; the LLM server yields the CPU to them (it runs alone while the worker waits).
            nice=LLM_NICENESS,
        )
        proc.start()
        self.processes["llm"] = proc
        proc.wait_until(
            lambda: http_ok(f"{c.llm_base_url}/models"), 120, "the LLM server did not come up"
        )

    def worker_environment(self) -> dict[str, str]:
        c = self.config
        env = dict(os.environ)
        env.update(
            LIVEKIT_URL=c.livekit_url,
            LIVEKIT_API_KEY=self.key,
            LIVEKIT_API_SECRET=self.secret,
            VOICE_AGENT_NAME=c.agent_name,
            LLM_BASE_URL=c.llm_base_url,
            WORKER_HTTP_PORT=str(c.worker_http_port),
        )
        env.update(c.worker_env)
        return env

    def start_worker(
        self,
        name: str = "worker",
        *,
        agent_name: str | None = None,
        http_port: int | None = None,
        env: dict[str, str] | None = None,
        argv: list[str] | None = None,
    ) -> ManagedProcess:
        """Start a worker process (more than one may run, each under its own agent name);
        `argv` runs another livekit-agents worker (a peer) in its place."""
        c = self.config
        port = c.worker_http_port if http_port is None else http_port
        if port:
            ensure_port_free(port, "the worker's health endpoint", "WORKER_HTTP_PORT")
        worker_env = self.worker_environment()
        worker_env.update(env or {})
        worker_env["WORKER_HTTP_PORT"] = str(port)
        if agent_name:
            worker_env["VOICE_AGENT_NAME"] = agent_name
        log_level = ["--log-level", os.environ.get("WORKER_LOG_LEVEL", "INFO")]
        proc = ManagedProcess(
            name,
            (argv or [sys.executable, "-m", "agent_worker", "start"]) + log_level,
            c.log_dir / f"{name}-{c.livekit_port}.log",
            worker_env,
        )
        proc.start()
        self.processes[name] = proc
        proc.wait_until(
            lambda: proc.log_contains("registered worker"),
            180,
            "the worker did not register with livekit-server",
        )
        return proc

    def start_control_plane(
        self, port: int, *, database_url: str, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """Start the REST control plane on `port` against `database_url`."""
        proc = control_plane_process(
            port,
            database_url=database_url,
            log_path=self.config.log_dir / f"control-plane-{port}.log",
            env={
                "LIVEKIT_URL": self.config.livekit_url,
                "LIVEKIT_API_KEY": self.key,
                "LIVEKIT_API_SECRET": self.secret,
                "VOICE_AGENT_NAME": self.config.agent_name,
                **(env or {}),
            },
        )
        self.processes[f"control-plane-{port}"] = proc
        return proc

    def stop(self) -> None:
        # Workers first (they leave their rooms), then the LLM and the media server together.
        last = ("llm", "livekit")
        first = [self.processes.pop(n) for n in list(self.processes) if n not in last]
        stop_together(first)
        stop_together([self.processes.pop(n) for n in last if n in self.processes])

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
