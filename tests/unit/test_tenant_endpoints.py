"""An agent's own `llm_base_url`: the deployment's key never goes there, and its connections
obey the egress policy (the fake OpenAI server runs on loopback, which only an allow-list
admits)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from livekit.agents import APIConnectionError

from agent.contract import AgentConfig
from fake_providers.openai import FakeOpenAI
from pipelines.factory import build_llm
from pipelines.llm.openai_compat import build_openai_compatible_llm
from pipelines.settings import ProviderCredentials
from shared.egress import EgressPolicy
from tests.helpers import answer, llm_engines, primary_llm

DEPLOYMENT_KEY = "sk-deployment-0001"
COMPANY_KEY = "sk-company-0002"
LOOPBACK = EgressPolicy.from_setting("127.0.0.0/8")


@pytest.fixture
async def tenant_server() -> AsyncIterator[FakeOpenAI]:
    """The endpoint a tenant points its agent at (it accepts any key and logs it)."""
    fake = FakeOpenAI(replies=["From the tenant's server."])
    async with fake:
        yield fake


def engines(egress: EgressPolicy):
    return llm_engines(deployment_openai_key=DEPLOYMENT_KEY, egress=egress)


async def test_the_deployment_key_never_goes_to_an_agents_own_endpoint(http, tenant_server):
    config = AgentConfig(llm_model="gpt-4o-mini", llm_base_url=tenant_server.base_url)
    # A company with no key of its own: nothing of the deployment's reaches the tenant's host.
    assert await answer(primary_llm(build_llm(config, engines(LOOPBACK).settings))) == (
        "From the tenant's server."
    )
    # With its company's key, that key (and only that one) goes there.
    own = ProviderCredentials(openai=COMPANY_KEY)
    assert await answer(primary_llm(build_llm(config, engines(LOOPBACK).settings, own)))
    keys = [r.api_key for r in tenant_server.state.requests if r.route == "chat"]
    assert len(keys) == 2 and DEPLOYMENT_KEY not in keys, keys
    assert keys[1] == COMPANY_KEY
    # The deployment's own OpenAI URL still gets the deployment's key.
    cloud = AgentConfig(llm_model="gpt-4o-mini")
    deployment = primary_llm(build_llm(cloud, engines(LOOPBACK).settings))
    assert deployment._client.api_key == DEPLOYMENT_KEY
    assert str(deployment._client.base_url).startswith("https://api.openai.example/v1")


async def test_an_agents_endpoint_on_an_internal_address_is_refused_when_connecting(
    http, tenant_server
):
    """The worker checks the address at connection time too (the registration check can be
    outrun by DNS): with the default policy, loopback is refused and nothing is sent."""
    for model in ("gpt-4o-mini", "local"):
        config = AgentConfig(llm_model=model, llm_base_url=tenant_server.base_url)
        with pytest.raises(APIConnectionError) as refused:
            await answer(primary_llm(build_llm(config, engines(EgressPolicy()).settings)))
        assert "egress policy" in repr(refused.value.__cause__) + str(refused.value)
    assert tenant_server.state.requests == []


async def test_one_model_streams_more_replies_at_once_than_a_calls_client():
    """The text chat shares one model among an agent's conversations: with `streams` it holds
    them all at once, where a call's client (50 connections) would keep the rest waiting for
    a connection until they time out."""
    words = " ".join(f"w{i}" for i in range(20))
    fake = FakeOpenAI(replies=lambda _: words, token_ms=150)  # each reply streams for ~3 s
    async with fake:
        model = build_openai_compatible_llm(
            base_url=fake.base_url, model="gpt-4o-mini", temperature=0, max_tokens=64, streams=60
        )
        try:
            replies = await asyncio.gather(*(answer(model, within=2) for _ in range(60)))
        finally:
            await model._client.close()
    assert replies == [words] * 60
