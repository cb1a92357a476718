"""Misconfigurations end in one line naming the cause and the fix, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.stack import ROOT, Stack, StackConfig, StackError, ensure_port_free


def run(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_worker_without_livekit_server() -> None:
    result = run(
        "agent_worker",
        "start",
        env={"LIVEKIT_URL": "ws://127.0.0.1:7998", "LIVEKIT_WAIT_SECONDS": "0.5"},
    )
    assert_one_line_error(result, "not reachable at ws://127.0.0.1:7998", "LIVEKIT_URL")


def test_worker_with_missing_model(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    result = run("agent_worker", "start", env={"WHISPER_MODEL": str(missing)})
    assert_one_line_error(result, str(missing), "WHISPER_MODEL")


def test_call_without_a_running_stack() -> None:
    result = run("simulator", "call", env={"LIVEKIT_URL": "ws://127.0.0.1:7997"})
    assert_one_line_error(result, "not reachable", "make run")


def test_busy_port_is_named_with_the_fix() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} is busy.*LIVEKIT_PORT"):
            ensure_port_free(port, "livekit-server", "LIVEKIT_PORT")


def test_missing_livekit_binary_is_named_with_the_fix(tmp_path: Path) -> None:
    config = StackConfig(livekit_port=7996, livekit_bin=tmp_path / "livekit-server")
    with pytest.raises(StackError, match="livekit-server not found.*make setup"):
        Stack(config, llm=False, worker=False).start()


def test_demo_with_busy_port_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run("simulator", "demo", env={"LIVEKIT_PORT": str(port)})
    assert_one_line_error(result, f"port {port} is busy", "LIVEKIT_PORT")
