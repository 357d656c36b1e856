"""Where Perfpilot may send requests: the address policy for outbound connections (DESIGN §10).

A host name is resolved the way the HTTP client will resolve it (`getaddrinfo`, so `127.1`,
`2130706433` and `0x7f000001` all mean 127.0.0.1) and every address it yields is checked:

- link-local, cloud metadata, "this network" (0.0.0.0/8), multicast and broadcast addresses are
  always refused, whatever the allow-list says;
- loopback is refused unless `PERFPILOT_OUTBOUND_ALLOW` names it;
- private and other non-public ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, ...)
  are refused for webhooks unless the allow-list names them; scrape targets may reach them.

IPv4 addresses embedded in IPv6 (`::ffff:127.0.0.1`, NAT64 `64:ff9b::/96`, 6to4) are judged as
the IPv4 address they reach. The check runs at creation (early, clear feedback) and at every
connection: `GuardedTransport` connects only to an address it has just checked, so a name that
resolves differently later (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]


class OutboundKind(StrEnum):
    webhook = "webhook"
    scrape = "scrape"


class OutboundRefused(Exception):
    """The destination is not allowed; the message says why, for the client or `lastError`."""


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# (networks, what they are): refused for every kind, the allow-list cannot open them
_ALWAYS_REFUSED: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (_nets("169.254.0.0/16", "fe80::/10"), "link-local (where cloud metadata services live)"),
    (_nets("100.100.100.200/32", "fd00:ec2::254/128"), "a cloud metadata address"),
    (_nets("0.0.0.0/8", "::/128"), "an unspecified address (it reaches this host)"),
    (_nets("224.0.0.0/4", "ff00::/8", "255.255.255.255/32"), "multicast or broadcast"),
)
_LOOPBACK = _nets("127.0.0.0/8", "::1/128")
_PRIVATE = _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# names of metadata services that need no DNS (resolved by the platform's own resolver)
_METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data.ec2.internal"}
)


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """CIDRs (or single addresses) as networks; host bits are masked, not an error."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the OS gives for `host`, as the HTTP client would connect to them.

    `loop.getaddrinfo` runs in the default executor: never blocks the event loop.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class OutboundPolicy:
    """Checks destinations for one process. `resolver` is replaceable for tests only."""

    def __init__(self, allow: Sequence[IPNetwork] = (), resolver: Resolver = system_resolver):
        self.allow = tuple(allow)
        self.resolver = resolver

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allow)

    def refusal(self, address: IPAddress, kind: OutboundKind) -> str | None:
        """Why `address` may not be reached for `kind` ("is loopback; ..."), or None."""
        embedded = _embedded_ipv4(address)
        judged: IPAddress = embedded if embedded is not None else address
        for networks, what in _ALWAYS_REFUSED:
            if any(judged.version == n.version and judged in n for n in networks):
                return f"is {what}; always refused"
        if self._allowed(judged) or (embedded is not None and self._allowed(address)):
            return None
        if any(judged.version == n.version and judged in n for n in _LOOPBACK):
            what = "loopback"
        elif any(judged.version == n.version and judged in n for n in _PRIVATE):
            what = "in a private range"
        elif not judged.is_global:
            what = "not a public address"
        else:
            return None
        if kind is OutboundKind.scrape and what != "loopback":
            return None  # model servers live on private networks
        return f"is {what}; refused unless PERFPILOT_OUTBOUND_ALLOW names it"

    async def resolve_checked(
        self, host: str, port: int, kind: OutboundKind, *, unresolved_ok: bool = False
    ) -> list[str]:
        """Every address `host` resolves to, once all of them passed; raises OutboundRefused.

        With `unresolved_ok`, a name that does not resolve now gives `[]` (creation accepts it:
        the check at connection time still applies) instead of a refusal.
        """
        host = host.strip("[]")
        if host.rstrip(".").lower() in _METADATA_NAMES:
            raise OutboundRefused(f"{host} is a cloud metadata service; always refused")
        try:
            addresses = await self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            if unresolved_ok:
                return []
            raise OutboundRefused(f"{host} could not be resolved: {exc}") from exc
        if not addresses:
            raise OutboundRefused(f"{host} resolves to no address")
        for raw in addresses:
            address = ipaddress.ip_address(raw.split("%", 1)[0])  # drop an IPv6 scope id
            reason = self.refusal(address, kind)
            if reason is not None:
                embedded = _embedded_ipv4(address)
                shown = str(address) if embedded is None else f"{address} (IPv4 {embedded})"
                if shown != host:
                    shown = f"{host} resolves to {shown}, which"
                raise OutboundRefused(f"{shown} {reason}")
        return addresses

    async def check_url(self, url: str, kind: OutboundKind) -> None:
        """Check a URL's host at creation time (a name that does not resolve yet is accepted)."""
        try:
            parsed = httpx.URL(url)  # the host as the client will see it
        except httpx.InvalidURL as exc:
            raise OutboundRefused(f"is not a valid URL: {exc}") from exc
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        await self.resolve_checked(parsed.host, port, kind, unresolved_ok=True)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking each host before it connects, then
    connecting to a checked address only (never resolving the name a second time)."""

    def __init__(self, policy: OutboundPolicy, kind: OutboundKind) -> None:
        self._policy = policy
        self._kind = kind
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.resolve_checked(host, port, self._kind)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport whose every TCP connection goes through the policy. No proxies: the
    policy must see the real destination."""

    def __init__(self, policy: OutboundPolicy, kind: OutboundKind, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy, kind),
        )
