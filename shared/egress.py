"""Egress policy: where the product may send requests to URLs that tenants supply.

A tenant's URL (a webhook, an agent's `llm_base_url`, and in time knowledge-base URLs, HTTP
tools and MCP servers) must not aim the deployment at itself or its private network: loopback,
link-local (cloud metadata at 169.254.169.254), private, shared, multicast, reserved and
unspecified addresses are refused, in every spelling (`127.1`, `2130706433`, `0x7f.1`,
`[::ffff:127.0.0.1]`, NAT64 and 6to4 forms), because the check is made on the addresses the
name resolves to, not on the text of the URL.

The check is made twice:

- when the URL is registered (`check_url`): a URL refused there is a 400 naming the rule;
- when a connection is opened (`guard_transport`): the name is resolved again, every address
  it resolves to is checked, and the connection goes to the checked address, so a name that
  resolves to a public address at registration and to a private one later (DNS rebinding)
  is refused at connect time. Clients built for tenant URLs follow no redirects.

Only an explicit deployment setting relaxes it: `allowed_networks`, networks whose addresses
are accepted anyway (the tests' loopback receivers; an operator's own LLM server on a private
network).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING = "EGRESS_ALLOWED_NETWORKS"
"""The environment variable that relaxes the policy (comma-separated networks)."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


class EgressRefusedError(ValueError):
    """The policy refuses the URL or the address its host resolves to; the message names the
    rule (and the setting that would relax it)."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4, Teredo, compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify(address: IPAddress) -> str | None:
    """Why the address is not a public one (`loopback`, `private`...), None when it is."""
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            forms.insert(0, embedded)  # the IPv4 address it reaches names the rule
    for form in forms:
        if form.is_unspecified:
            return "unspecified"
        if form.is_loopback:
            return "loopback"
        if form.is_link_local:
            return "link-local"
        if form.is_multicast:
            return "multicast"
        if isinstance(form, ipaddress.IPv4Address) and form in _SHARED:
            return "shared (carrier-grade NAT)"
        if form.is_reserved:
            return "reserved"
        if form.is_private:
            return "private"
        if not form.is_global:
            return "reserved"
    return None


def parse_networks(text: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """`127.0.0.0/8, ::1` -> networks; a bare address is a network of one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{ALLOW_SETTING}: {item!r} is not an IP network") from None
    return tuple(networks)


@dataclass(frozen=True)
class EgressPolicy:
    """Public addresses only, plus `allowed_networks`."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    resolve_timeout: float = 3.0
    """Seconds a name may take to resolve at registration (a name that does not resolve
    then is accepted, and checked again at each connection)."""

    @classmethod
    def from_setting(cls, allowed: str) -> EgressPolicy:
        return cls(allowed_networks=parse_networks(allowed))

    def refusal(self, address: IPAddress) -> str | None:
        """Why a connection to `address` is refused, None when it is allowed."""
        if any(address in network for network in self.allowed_networks):
            return None
        reason = classify(address)
        if reason is None:
            return None
        return f"{address} is a {reason} address (allow it with {ALLOW_SETTING})"

    def check_address(self, address: IPAddress) -> None:
        reason = self.refusal(address)
        if reason is not None:
            raise EgressRefusedError(reason)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` resolves to, each checked; raises `EgressRefusedError` when
        any is refused (a name must not mix public and private answers) and `OSError` when
        it does not resolve."""
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except UnicodeError:  # a label over 63 characters, or not IDNA-encodable
                raise EgressRefusedError(f"{host[:80]!r} is not a valid host name") from None
            found = (_literal(str(info[4][0])) for info in infos)
            addresses = list(dict.fromkeys(a for a in found if a is not None))
            if not addresses:
                raise OSError(f"{host} resolves to no address")
        for address in addresses:
            self.check_address(address)
        return addresses

    async def check_url(self, url: str) -> None:
        """Refuse a URL the product must not call: not http(s), credentials in it, or a
        host that resolves to a refused address. A name that does not resolve now is
        accepted (it is checked again when connecting)."""
        host, port = split_url(url)
        try:
            async with asyncio.timeout(self.resolve_timeout):
                await self.resolve(host, port)
        except (OSError, TimeoutError):
            return

    def guard_transport(self, transport: Any, connect_error: type[Exception]) -> Any:
        """Make an `httpx`/`httpx2` async transport connect only to addresses this policy
        allows, checked as it connects. `connect_error` is the transport's own httpcore
        `ConnectError`, so callers see a refusal as the connection error it is."""
        pool = transport._pool  # httpx 0.28 and httpx2 2.16 keep their httpcore pool here
        pool._network_backend = GuardedBackend(pool._network_backend, self, connect_error)
        return transport


def split_url(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL with no credentials; `EgressRefusedError` else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressRefusedError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise EgressRefusedError("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise EgressRefusedError(
            "must not carry credentials (user:password@); requests are signed or carry "
            "their own authorization"
        )
    if not parts.hostname:
        raise EgressRefusedError("has no host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


class GuardedBackend:
    """An httpcore network backend that resolves the host itself, checks every address with
    the policy and connects to the checked one (TLS still verifies the original host name)."""

    def __init__(self, inner: Any, policy: EgressPolicy, connect_error: type[Exception]) -> None:
        self._inner = inner
        self._policy = policy
        self._connect_error = connect_error

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._policy.resolve(host, port)
        except EgressRefusedError as exc:
            raise self._connect_error(f"refused by the egress policy: {host}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise self._connect_error(f"{host} does not resolve ({exc})") from None
        return await self._inner.connect_tcp(
            str(addresses[0]),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise self._connect_error("refused by the egress policy: unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def httpx_client(
    policy: EgressPolicy,
    *,
    http: ModuleType = httpx,
    core: ModuleType = httpcore,
    transport_options: dict[str, Any] | None = None,
    **client_options: Any,
) -> Any:
    """An async client for tenant URLs (`httpx`, or `httpx2` with `http`/`core`): guarded
    connections, no redirects, no proxy or other settings taken from the environment."""
    transport = policy.guard_transport(
        http.AsyncHTTPTransport(trust_env=False, **(transport_options or {})), core.ConnectError
    )
    return http.AsyncClient(
        transport=transport, follow_redirects=False, trust_env=False, **client_options
    )
