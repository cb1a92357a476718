"""`make run`'s program: a demo call is printed, the stack stays up, and a signal stops it all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from simulator.stack import ROOT

pytestmark = pytest.mark.e2e

PORTS = {
    "LIVEKIT_PORT": 8280,
    "LIVEKIT_UDP_PORT": 8282,
    "LLM_PORT": 8288,
    "WORKER_HTTP_PORT": 8281,
}


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_demo_prints_the_call_and_a_signal_stops_the_whole_stack(stop_signal) -> None:
    env = {**os.environ, **{k: str(v) for k, v in PORTS.items()}, "VOICE_AGENT_NAME": "demo"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the demo's own output is the event we wait for
            lines.append(line.rstrip())
            if "Press Ctrl-C to stop" in line:
                break
        output = "\n".join(lines)
        assert "Press Ctrl-C to stop" in output, output
        assert sum(line.lstrip().startswith("caller: ") for line in lines) == 2, output
        assert "voice-to-voice" in output
        assert port_in_use(PORTS["LIVEKIT_PORT"]) and port_in_use(PORTS["LLM_PORT"])

        proc.send_signal(stop_signal)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # every thread's stack, on its output
            proc.send_signal(signal.SIGTERM)
            rest, _ = proc.communicate(timeout=60)
            pytest.fail(f"the demo did not stop within 60 s of {stop_signal.name}:\n{rest}")
        rest = proc.stdout.read()
        assert "stack stopped" in rest, rest
    finally:
        if proc.poll() is None:  # a failed assertion: still stop the stack the demo started
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        port_in_use(PORTS[k]) for k in ("LIVEKIT_PORT", "LLM_PORT", "WORKER_HTTP_PORT")
    ):
        time.sleep(0.2)
    assert not port_in_use(PORTS["LIVEKIT_PORT"]), "livekit-server outlived the demo"
    assert not port_in_use(PORTS["LLM_PORT"]), "the LLM server outlived the demo"
    assert not port_in_use(PORTS["WORKER_HTTP_PORT"]), "the worker outlived the demo"
