"""MCP servers through seed 001's API on a real control plane: a real MCP server (the SDK's,
streamable HTTP and SSE) is registered with a secret header, checked, listed with its tools;
one that is down says so; tools are assigned to an agent; addresses the deployment does not
allow are refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mcp_server import calendar_server

from .conftest import FAST_WEBHOOKS, ApiServer, Tenant, database_url_for, running_api_server

PORTS = {"sqlite": 8372, "postgresql": 8373}
API = "/v1/api"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def mcp_api(request, tmp_path_factory, provider_env) -> Iterator[ApiServer]:
    backend = request.param
    database_url = database_url_for(backend, tmp_path_factory.mktemp(f"mcp-{backend}"))
    env = {"RATE_LIMIT": "100000/minute", **FAST_WEBHOOKS, **provider_env}
    with running_api_server(
        backend, database_url, PORTS[backend], f"control-plane-mcp-{backend}.log", env
    ) as server:
        yield server


def bearer(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
async def test_a_server_is_registered_checked_and_its_tools_assigned(
    mcp_api: ApiServer, transport: str
):
    with calendar_server(transport, token="mcp-secret") as calendar:
        async with mcp_api.client() as client:
            registered = await client.post(
                f"{API}/mcp-servers",
                json={
                    "name": "Calendar",
                    "url": calendar.url,
                    "headers": {"Authorization": "Bearer mcp-secret"},
                },
                headers=bearer(mcp_api.acme),
            )
            assert registered.status_code == 201, registered.text
            server = registered.json()["data"]
            assert server["status"] == "connected", server
            assert server["tools_count"] == 3 and server["transport"] == transport
            assert "mcp-secret" not in registered.text

            listed = await client.get(f"{API}/mcp-servers", headers=bearer(mcp_api.acme))
            assert [s["id"] for s in listed.json()["data"]["servers"]] == [server["id"]]

            tools = await client.get(
                f"{API}/mcp-servers/{server['id']}/tools", headers=bearer(mcp_api.acme)
            )
            assert tools.status_code == 200
            by_name = {t["name"]: t for t in tools.json()["data"]["tools"]}
            assert by_name["book_appointment"]["parameters"] == {
                "date": "string",
                "time": "string",
                "duration": "integer",
            }
            assert "free appointments" not in tools.text  # listed, not called

            agent = await client.post(
                "/voice-agents",
                json={"name": "Clinic", "voice_id": "v"},
                headers=mcp_api.acme.headers,
            )
            agent_id = agent.json()["id"]
            assigned = await client.post(
                f"{API}/agents/{agent_id}/assign-tools",
                json={"tools": ["check_availability", "book_appointment"]},
                headers=bearer(mcp_api.acme),
            )
            assert assigned.status_code == 200, assigned.text
            assert assigned.json()["data"]["tools"] == ["check_availability", "book_appointment"]
            stored = await client.get(f"/voice-agents/{agent_id}", headers=mcp_api.acme.headers)
            assert stored.json()["assigned_tools"] == ["check_availability", "book_appointment"]

            unknown = await client.post(
                f"{API}/agents/{agent_id}/assign-tools",
                json={"tools": ["launch_rocket"]},
                headers=bearer(mcp_api.acme),
            )
            assert unknown.status_code == 400
            assert unknown.json()["error"]["field"] == "tools"
            assert "launch_rocket" in unknown.json()["error"]["message"]

            # Another company sees none of it.
            other = bearer(mcp_api.globex)
            assert (
                await client.get(f"{API}/mcp-servers/{server['id']}/tools", headers=other)
            ).status_code == 404
            assert (await client.get(f"{API}/mcp-servers", headers=other)).json()["data"][
                "servers"
            ] == []
            assert (
                await client.post(
                    f"{API}/agents/{agent_id}/assign-tools", json={"tools": []}, headers=other
                )
            ).status_code == 404
            deleted = await client.delete(
                f"{API}/mcp-servers/{server['id']}", headers=bearer(mcp_api.acme)
            )
            assert deleted.status_code == 200
    # The server is gone: listing it again would show it down, but it was deleted.


async def test_a_server_that_is_down_or_refuses_says_so(mcp_api: ApiServer):
    async with mcp_api.client() as client:
        with calendar_server("streamable_http", token="right") as calendar:
            wrong = await client.post(
                f"{API}/mcp-servers",
                json={
                    "name": "Wrong key",
                    "url": calendar.url,
                    "headers": {"Authorization": "Bearer nope"},
                },
                headers=bearer(mcp_api.acme),
            )
            assert wrong.status_code == 201
            assert wrong.json()["data"]["status"] == "error"
            assert wrong.json()["data"]["last_error"]
            url = calendar.url
        down = await client.get(
            f"{API}/mcp-servers/{wrong.json()['data']['id']}/tools", headers=bearer(mcp_api.acme)
        )
        assert down.status_code == 200 and down.json()["data"]["tools"] == []
        gone = await client.post(
            f"{API}/mcp-servers", json={"name": "Gone", "url": url}, headers=bearer(mcp_api.acme)
        )
        server = gone.json()["data"]
        assert server["status"] == "error" and server["tools_count"] == 0 and server["last_error"]

        for refused in ("http://169.254.169.254/mcp", "http://10.1.2.3/sse"):
            response = await client.post(
                f"{API}/mcp-servers",
                json={"name": "x", "url": refused},
                headers=bearer(mcp_api.acme),
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"]["field"] == "url"
