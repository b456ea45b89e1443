"""The client's address for per-source limits, behind trusted reverse proxies.

Behind nginx every request comes from 127.0.0.1, so a per-source limit keyed by the peer
address would throttle everybody together. `[server] trusted_proxies` lists the addresses or
networks of our own proxies; only when the direct peer is one of them is `X-Forwarded-For`
read, and then from the right: each trusted proxy appended the address it saw, so the rightmost
hop that is NOT a trusted proxy is the client. Entries further left were sent by the client
and are never believed (a forged header from an untrusted peer changes nothing).

The address is only a key of a keyed hash in memory (server/services/rate_limit.py): never
logged, never stored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from server.keys import CONFIG

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Hops read from the right at most (a header cannot make us walk an unbounded list).
MAX_HOPS = 16


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _parse(value: str) -> IPAddress | None:
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1:text.index("]")]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def resolve_client_address(
    peer: str | None, forwarded_for: list[str], trusted: tuple[str, ...]
) -> str:
    """The client address from the direct `peer` and the `X-Forwarded-For` header values (in
    the order received), trusting only the proxies in `trusted` (addresses or CIDRs)."""
    if not peer:
        return "unknown"
    networks = _networks(trusted)
    client = _parse(peer)
    if client is None or not networks or not _trusted(client, networks):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops[-MAX_HOPS:]):
        address = _parse(hop)
        if address is None:
            break  # garbage left of a trusted proxy: keep the last address we could believe
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def client_address(request: web.Request) -> str:
    """The address per-source limits count for this request (see the module docstring)."""
    trusted = request.app[CONFIG].server.trusted_proxies
    if not trusted:
        return request.remote or "unknown"
    return resolve_client_address(
        request.remote, request.headers.getall("X-Forwarded-For", []), trusted
    )
