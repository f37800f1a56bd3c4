"""Whether a set of CIDRs, taken together, is open to the internet (union, not one-by-one)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPv4 = ipaddress.IPv4Network
IPv6 = ipaddress.IPv6Network

NOT_INTERNET_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
"""IPv4 ranges that are not the public internet (IANA special-purpose registry, RFC 6890): a union that
covers everything else covers the internet."""

INTERNET_V6 = ipaddress.IPv6Network("2000::/3")
"""The IPv6 global unicast space (RFC 4291 section 2.4): the IPv6 internet."""


def parse(cidrs: Iterable[str]) -> tuple[list[IPv4], list[IPv6], list[str]]:
    """Split CIDR strings into IPv4 and IPv6 networks (host bits ignored); unparsable ones are returned apart."""
    v4: list[IPv4] = []
    v6: list[IPv6] = []
    bad: list[str] = []
    for text in cidrs:
        try:
            network = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            bad.append(str(text))
            continue
        (v4 if isinstance(network, IPv4) else v6).append(network)  # type: ignore[arg-type]
    return v4, v6, bad


def _uncovered(target: IPv4 | IPv6, union: list[IPv4] | list[IPv6]) -> bool:
    remaining: list[IPv4 | IPv6] = [target]
    for network in union:
        next_remaining: list[IPv4 | IPv6] = []
        for piece in remaining:
            if piece.subnet_of(network):  # type: ignore[arg-type]
                continue
            if network.subnet_of(piece):  # type: ignore[arg-type]
                next_remaining.extend(piece.address_exclude(network))  # type: ignore[arg-type]
            else:
                next_remaining.append(piece)
        remaining = next_remaining
        if not remaining:
            return False
    return bool(remaining)


def world_open(cidrs: Iterable[str]) -> list[str]:
    """Which internets (``IPv4``, ``IPv6``) the union of ``cidrs`` covers; empty when neither."""
    v4, v6, _ = parse(cidrs)
    found = []
    if v4:
        union4 = list(ipaddress.collapse_addresses([*v4, *NOT_INTERNET_V4]))
        if not _uncovered(ipaddress.IPv4Network("0.0.0.0/0"), union4):
            found.append("IPv4")
    if v6 and not _uncovered(INTERNET_V6, list(ipaddress.collapse_addresses(v6))):
        found.append("IPv6")
    return found
