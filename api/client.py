"""Who is on the other end: the one place the client's address is worked out, for every per-address
limit (sign-in, the web forms, tracking) and every audit record.

``X-Forwarded-For`` is believed only when the connecting peer is one of ``HUYING_TRUSTED_PROXIES``;
then the header is read from the right, skipping trusted hops, and the first address that is not a
trusted proxy is the client (entries further left were written by the client and prove nothing).
Unset, the header is ignored: a script rotating it would otherwise be a new client on every request.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=16)
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _ip(text: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def _trusted(ip: Address | None, trusted: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip.version == net.version and ip in net for net in trusted)


def resolve(peer: str, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client behind ``peer``, given the ``X-Forwarded-For`` values it sent."""
    if not trusted or not _trusted(_ip(peer), trusted):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops[-32:]):  # a proxy chain is short; a long header is someone's invention
        ip = _ip(hop)
        if ip is None:
            break
        address = str(ip)
        if not _trusted(ip, trusted):
            break
    return address


def client_address(source: Any) -> str:
    """The client's address for a request or an ASGI scope ("" when the server does not know it)."""
    scope = getattr(source, "scope", source)
    peer = (scope.get("client") or ("",))[0] or ""
    app = scope.get("litestar_app")
    entries = app.state.platform.settings.trusted_proxies if app is not None else ()
    if not entries:
        return peer
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers") or ()
                 if name.lower() == b"x-forwarded-for"]
    return resolve(peer, forwarded, networks(tuple(entries)))
