"""Client addresses: lists of IPs and CIDR networks (trusted proxies, metrics scrapers)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["10.0.0.0/8", "192.0.2.7"]`` as networks (a bare address is a one-address network)."""
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def address_in(host: str | None, networks: Iterable[IPNetwork]) -> bool:
    """Whether ``host`` (the peer's address as the server reports it) is in one of ``networks``;
    a missing or unparsable host (a Unix socket, a test client) is in none."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
