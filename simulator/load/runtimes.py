"""What answers a load test's calls: the fake network providers, and the agents of the
runtime under test (this runtime's worker, stock livekit-agents, Pipecat or the bare SDK)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from ..stack import ROOT, ManagedProcess, Stack, StackError, ensure_port_free, http_ok
from .plan import ELEVENLABS_VOICE, LOAD_AGENT, PROVIDER_KEY, TRANSCRIPT, LoadPlan, Providers

PEERS = ROOT / "benchmarks/peers"
PIPECAT = PEERS / "pipecat"
PIPECAT_PYTHON = ROOT / ".cache/peers/pipecat-venv/bin/python"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_fakes(
    stack: Stack, providers: Providers, log_dir: Path, ports: dict[str, int]
) -> dict[str, str]:
    """The fake OpenAI (STT, LLM) and ElevenLabs (TTS) servers, each its own process; the
    worker environment that points at them."""
    py = sys.executable
    openai_port, elevenlabs_port = ports["fake-openai"], ports["fake-elevenlabs"]
    fakes = {
        "fake-openai": (
            openai_port,
            [py, "-m", "fake_providers.openai", "--port", str(openai_port)]
            + ["--ttft-ms", str(providers.ttft_ms), "--token-ms", str(providers.token_ms)]
            + ["--stt-ms", str(providers.stt_ms), "--fixed-transcript", TRANSCRIPT]
            + ["--always-reply", providers.reply, "--api-key", PROVIDER_KEY],
        ),
        "fake-elevenlabs": (
            elevenlabs_port,
            [py, "-m", "fake_providers.elevenlabs", "--port", str(elevenlabs_port)]
            + ["--tts-ttfb-ms", str(providers.ttfb_ms), "--valid-key", PROVIDER_KEY],
        ),
    }
    for name, (port, cmd) in fakes.items():
        if _port_open(port):
            raise StackError(f"port {port} for the {name} server is in use")
        proc = ManagedProcess(name, cmd, log_dir / f"{name}.log", dict(os.environ))
        proc.start()
        stack.processes[name] = proc
        proc.wait_until(partial(_port_open, port), 60, f"the {name} server did not start")
    return {
        "OPENAI_API_KEY": PROVIDER_KEY,
        "ELEVENLABS_API_KEY": PROVIDER_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{openai_port}/v1",
        "ELEVENLABS_BASE_URL": f"http://127.0.0.1:{elevenlabs_port}/v1",
    }


def start_agents(
    stack: Stack, plan: LoadPlan, env: dict[str, str]
) -> tuple[list[ManagedProcess], Callable[[str], Awaitable[None]] | None]:
    """Start whatever answers the calls of `plan.runtime`: the process named "worker" (or our
    `plan.workers` workers); with how to bring it into a room when LiveKit's agent dispatch
    does not."""
    if plan.runtime == "ours":
        return start_workers(stack, plan, env), None
    agent, summon = _start_peer(stack, plan, env)
    return [agent], summon


def start_workers(stack: Stack, plan: LoadPlan, env: dict[str, str]) -> list[ManagedProcess]:
    """Our workers, one after the other (each loads its models before the next starts), all
    under the one agent name: LiveKit dispatches each call to one of them. The first serves
    its health endpoint on the stack's worker port, the others on ports the system picks."""
    port = stack.config.worker_http_port
    return [
        stack.start_worker(name, http_port=port if i == 0 else 0, env=env)
        for i, name in enumerate(plan.worker_names())
    ]


JOB_ROOM = re.compile(r'"room": "([^"]+)"')
"""A room named in a worker's log (livekit-agents logs each job request, our worker each call,
as JSON records with the room's name)."""


def assign_workers(calls: list[dict[str, Any]], workers: list[ManagedProcess]) -> dict[str, int]:
    """The calls each worker took (the rooms its log names), and each call marked with its
    worker (`call["worker"]`; None when the call's room is unknown: a caller stopped before
    its call ended)."""
    rooms: dict[str, set[str]] = {}
    for worker in workers:
        try:
            rooms[worker.name] = set(JOB_ROOM.findall(worker.log_path.read_text(errors="replace")))
        except OSError:
            rooms[worker.name] = set()
    for call in calls:
        room = call.get("room")
        call["worker"] = next((name for name, seen in rooms.items() if room in seen), None)
    return {name: len(seen) for name, seen in rooms.items()}


def _start_peer(
    stack: Stack, plan: LoadPlan, env: dict[str, str]
) -> tuple[ManagedProcess, Callable[[str], Awaitable[None]] | None]:
    if plan.runtime == "livekit-agents":
        peer = {
            **env,
            "LIVEKIT_AGENT_NAME": LOAD_AGENT,
            "ELEVEN_API_KEY": env["ELEVENLABS_API_KEY"],
            "ELEVENLABS_VOICE_ID": ELEVENLABS_VOICE,
        }
        argv = [sys.executable, str(PEERS / "livekit_quickstart.py"), "start"]
        return stack.start_worker(env=peer, argv=argv), None
    if plan.runtime == "bare":
        bare = {
            **env,
            "BARE_HOLD_S": str(plan.hold),
            "BARE_PROVIDER_MS": str(plan.providers.latency_ms),
            "BARE_REPLY": plan.providers.reply,
            "EVENT_ROUTING": str(plan.event_routing).lower(),
        }
        argv = [sys.executable, str(PEERS / "bare_sdk.py"), "start"]
        return stack.start_worker(env=bare, argv=argv), None
    return start_pipecat(stack, env)


def start_pipecat(
    stack: Stack, env: dict[str, str], port: int | None = None, log_level: str = "INFO"
) -> tuple[ManagedProcess, Callable[[str], Awaitable[None]]]:
    """The Pipecat peer (installed into its own venv on first use) as the process "worker",
    and how to summon one of its bots into a room (`POST /calls`)."""
    subprocess.run([str(PIPECAT / "setup.sh")], check=True)
    port = port or stack.config.worker_http_port
    ensure_port_free(port, "the Pipecat peer", "WORKER_HTTP_PORT")
    cmd = [str(PIPECAT_PYTHON), str(PIPECAT / "agent.py"), "--port", str(port)]
    cmd += ["--livekit-url", stack.config.livekit_url]
    cmd += ["--api-key", stack.key, "--api-secret", stack.secret]
    cmd += ["--openai-base-url", env["OPENAI_BASE_URL"]]
    cmd += ["--elevenlabs-base-url", env["ELEVENLABS_BASE_URL"]]
    cmd += ["--provider-key", env["OPENAI_API_KEY"], "--voice-id", ELEVENLABS_VOICE]
    cmd += ["--log-level", log_level]
    log = stack.config.log_dir / f"pipecat-{stack.config.livekit_port}.log"
    peer = ManagedProcess("worker", cmd, log, dict(os.environ))
    peer.start()
    stack.processes["worker"] = peer
    url = f"http://127.0.0.1:{port}"
    peer.wait_until(lambda: http_ok(f"{url}/health"), 120, "the Pipecat peer did not start")

    async def summon(room: str) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/calls", json={"room": room}) as resp,
        ):
            if resp.status != 202:
                raise StackError(f"the Pipecat peer answered {resp.status}: {await resp.text()}")

    return peer, summon


def worker_env(plan: LoadPlan) -> dict[str, str]:
    """The worker's environment for the plan: its call limit, executor, frames and
    event routing."""
    # By default the worker accepts every call of the test: its own limit is what is being
    # measured. LiveKit weighs its choice between workers by 1 - load (active calls / this
    # limit), so with several workers the limit also decides how evenly the calls are spread.
    limit = plan.worker_max_calls or max(plan.calls, plan.max_calls) + 8
    return {
        "WORKER_MAX_CALLS": str(limit),
        "WORKER_EXECUTOR": plan.executor,
        "INPUT_FRAME_MS": str(plan.input_frame_ms),
        "EVENT_ROUTING": str(plan.event_routing).lower(),
    }
