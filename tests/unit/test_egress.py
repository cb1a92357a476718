"""The egress policy: which addresses a tenant's URL may reach, and the guarded transport.

Only loopback is ever connected to here; other forms are checked for their refusal alone.
"""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from shared.egress import EgressPolicy, EgressRefusedError, classify, httpx_client, split_url

STRICT = EgressPolicy()
LOOPBACK_ALLOWED = EgressPolicy.from_setting("127.0.0.0/8, ::1")

REFUSED_HOSTS = {
    "127.0.0.1": "loopback",
    "127.1": "loopback",
    "2130706433": "loopback",
    "0x7f.0.0.1": "loopback",
    "0177.0.0.1": "loopback",
    "localhost": "loopback",
    "[::1]": "loopback",
    "[::ffff:127.0.0.1]": "loopback",
    "[::ffff:7f00:1]": "loopback",
    "[64:ff9b::7f00:1]": "loopback",
    "[2002:7f00:1::]": "loopback",
    "0.0.0.0": "unspecified",
    "0": "unspecified",
    "[::]": "unspecified",
    "169.254.169.254": "link-local",
    "[fe80::1]": "link-local",
    "[::ffff:169.254.169.254]": "link-local",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "[fd00::1]": "private",
    "100.64.0.1": "shared",
    "224.0.0.1": "multicast",
    "[ff02::1]": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
}


@pytest.mark.parametrize("host", sorted(REFUSED_HOSTS))
async def test_internal_addresses_are_refused_in_every_spelling(host: str) -> None:
    with pytest.raises(EgressRefusedError) as refused:
        await STRICT.check_url(f"http://{host}:8080/hook")
    assert REFUSED_HOSTS[host] in str(refused.value)
    assert "EGRESS_ALLOWED_NETWORKS" in str(refused.value)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.215.14"])
def test_public_addresses_pass(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:pass@example.com/hook", "credentials"),
        ("http://user@example.com/hook", "credentials"),
        ("http:///nohost", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_malformed_urls_are_refused(url: str, rule: str) -> None:
    with pytest.raises(EgressRefusedError, match=rule):
        split_url(url)


async def test_a_host_name_that_cannot_be_a_name_is_refused() -> None:
    with pytest.raises(EgressRefusedError, match="not a valid host name"):
        await STRICT.check_url("https://" + "0" * 300 + "/hook")


async def test_a_name_that_does_not_resolve_is_accepted_at_registration() -> None:
    # It is checked again, and refused or failed, when a connection is made.
    await STRICT.check_url("https://no-such-host.invalid/hook")


def test_the_allow_list_relaxes_only_its_networks() -> None:
    policy = EgressPolicy.from_setting("127.0.0.0/8")
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.0.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("::1")) is not None


def test_a_bad_allow_list_names_the_setting() -> None:
    with pytest.raises(ValueError, match="EGRESS_ALLOWED_NETWORKS"):
        EgressPolicy.from_setting("10.0.0.0/8, not-a-network")


async def _loopback_server() -> tuple[asyncio.Server, int, list[bytes]]:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], received


async def test_the_guarded_client_refuses_at_connect_time() -> None:
    """A URL that passed registration (or a name that now resolves elsewhere) is checked
    again when connecting: nothing reaches the loopback server."""
    server, port, received = await _loopback_server()
    async with server, httpx_client(STRICT, timeout=5) as client:
        for host in ("127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]"):
            with pytest.raises(httpx.ConnectError, match="egress policy"):
                await client.post(f"http://{host}:{port}/hook", content=b"{}")
    assert received == []


async def test_the_guarded_client_reaches_allowed_networks_and_follows_no_redirect() -> None:
    server, port, received = await _loopback_server()
    async with server, httpx_client(LOOPBACK_ALLOWED, timeout=5) as client:
        response = await client.post(f"http://localhost:{port}/hook", content=b"{}")
    assert response.status_code == 200 and response.text == "ok"
    assert received and received[0].startswith(b"POST /hook")
    assert client.follow_redirects is False
