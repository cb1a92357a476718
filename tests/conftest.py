"""Shared fixtures: one real local stack (livekit-server, LLM server, worker) per test session.

The stack runs on its own ports so `make run` can stay up while the suite runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.stack import ROOT, Stack, StackConfig

TEST_PORTS = {
    "livekit_port": int(os.environ.get("TEST_LIVEKIT_PORT", 7980)),
    "livekit_udp_port": int(os.environ.get("TEST_LIVEKIT_UDP_PORT", 7982)),
    "llm_port": int(os.environ.get("TEST_LLM_PORT", 8188)),
    "worker_http_port": int(os.environ.get("TEST_WORKER_HTTP_PORT", 8181)),
}
TEST_AGENT_NAME = "voice-agent-test"


@pytest.fixture(scope="session")
def store_url(tmp_path_factory) -> str:
    """The SQLite store the test worker reads its agents from."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'voice-agents.db'}"


@pytest.fixture(scope="session")
def stack_config(store_url: str) -> StackConfig:
    return StackConfig(
        **TEST_PORTS,
        agent_name=TEST_AGENT_NAME,
        log_dir=Path(ROOT / ".cache" / "logs" / "tests"),
        worker_env={"DATABASE_URL": store_url},
    )


@pytest.fixture(scope="session")
def stack(stack_config: StackConfig) -> Iterator[Stack]:
    """livekit-server + embedded LLM + worker, started once for all tests that need them."""
    with Stack(stack_config) as running:
        yield running


@pytest.fixture
async def idle_stack(stack: Stack) -> Stack:
    """The shared stack once the worker has finished the previous test's calls.

    A call's job lingers a few seconds after its caller leaves; a worker full of ending jobs
    refuses new ones and livekit-server re-offers a refused dispatch only much later.
    """
    from tests.helpers import poll_until, worker_info

    port = stack.config.worker_http_port
    # /worker omits active_jobs when it is 0 (protobuf JSON leaves out default values).
    await poll_until(lambda: worker_info(port).get("active_jobs", 0) == 0, 60, "an idle worker")
    return stack
