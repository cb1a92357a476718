"""Shared fixtures: one real local stack (livekit-server, LLM server, worker) per test session.

The stack runs on its own ports so `make run` can stay up while the suite runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_providers.elevenlabs import FakeElevenLabs
from fake_providers.openai import FakeOpenAI
from fake_providers.twilio import FakeTwilio
from simulator.stack import ROOT, Stack, StackConfig, redis_process

TEST_PORTS = {
    "livekit_port": int(os.environ.get("TEST_LIVEKIT_PORT", 7980)),
    "livekit_udp_port": int(os.environ.get("TEST_LIVEKIT_UDP_PORT", 7982)),
    "llm_port": int(os.environ.get("TEST_LLM_PORT", 8188)),
    "worker_http_port": int(os.environ.get("TEST_WORKER_HTTP_PORT", 8181)),
}
TEST_AGENT_NAME = "voice-agent-test"

# Provider keys the fake vendors accept, and the secret that encrypts them in the test stores.
ELEVENLABS_KEY = "sk_test_eleven_acme_0001"
ELEVENLABS_OTHER_KEY = "sk_test_eleven_other_0002"
OPENAI_KEY = "sk-test-openai-acme-0003"
PROVIDER_KEYS_SECRET = "q1r9y9Xc2n0oH6o4cC2m6m4v2XoZ1mYdY0n8k7L3b1M="
TWILIO_ACCOUNT = "AC" + "5e" * 16
TWILIO_TOKEN = "twilio-test-token-0123456789"  # noqa: S105 - the fake's test account


@pytest.fixture(scope="session")
def fake_elevenlabs() -> Iterator[FakeElevenLabs]:
    """A local server speaking ElevenLabs' wire formats (the real one is unreachable)."""
    with FakeElevenLabs(valid_keys=[ELEVENLABS_KEY, ELEVENLABS_OTHER_KEY]) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    """A local server speaking OpenAI's wire formats."""
    with FakeOpenAI(api_keys=[OPENAI_KEY]) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    """A local server speaking Twilio's REST API (the phone tests run their own, which also
    places calls)."""
    with FakeTwilio(accounts={TWILIO_ACCOUNT: TWILIO_TOKEN}) as fake:
        yield fake


@pytest.fixture(scope="session")
def recordings_dir(tmp_path_factory) -> Path:
    """Where the test worker stores call recordings and the control planes read them."""
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(scope="session")
def provider_env(
    fake_elevenlabs: FakeElevenLabs,
    fake_openai: FakeOpenAI,
    fake_twilio: FakeTwilio,
    recordings_dir: Path,
) -> dict[str, str]:
    """Environment shared by the test control planes and worker: the fake vendors, the
    provider-keys secret, the recording store."""
    return {
        "ELEVENLABS_BASE_URL": fake_elevenlabs.base_url,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "TWILIO_BASE_URL": fake_twilio.base_url,
        "PROVIDER_KEYS_SECRET": PROVIDER_KEYS_SECRET,
        "RECORDINGS_URL": str(recordings_dir),
        # The fakes and receivers run on loopback, which tenants' URLs may not reach otherwise.
        "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
    }


@pytest.fixture(scope="session")
def store_url(tmp_path_factory) -> str:
    """The SQLite store the test worker reads its agents from."""
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'voice-agents.db'}"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis server (Debian's `redis-server`) for the tests of shared state."""
    port = int(os.environ.get("TEST_REDIS_PORT", 56379))
    server = redis_process(port, log_path=ROOT / ".cache" / "logs" / "tests" / "redis.log")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack_config(store_url: str, provider_env: dict[str, str]) -> StackConfig:
    return StackConfig(
        **TEST_PORTS,
        agent_name=TEST_AGENT_NAME,
        log_dir=Path(ROOT / ".cache" / "logs" / "tests"),
        worker_env={"DATABASE_URL": store_url, **provider_env},
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
