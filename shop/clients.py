"""Who a request comes from: its client, the one key of every per-client rule.

The rate limits (``shop.rate_limits``), the owner of an anonymous caller's idempotency keys
(``shop.api.auth``) and the units one client may hold at once (``shop.hoarding``) all count per
``client_address()``. It is the request's address as the server saw it, or, behind
``SHOP_TRUSTED_PROXIES`` reverse proxies, the address Werkzeug's ProxyFix took from their
``X-Forwarded-For``. An IPv6 address stands for its /64 network: a provider hands one subscriber
a whole /64, and a client that picked a new address from it for every request would otherwise
be a new client each time.

A customer's order is also held to the units one e-mail may hold (``shop.hoarding``), keyed by
``email_key``.
"""

from __future__ import annotations

import hashlib
import ipaddress

from flask import request

IPV6_CLIENT_PREFIX = 64
UNKNOWN = "unknown"  # no address, or not an IP address (a Unix socket): all such requests count together


def client_of(address: str | None) -> str:
    """The client an address belongs to: an IPv4 address as it is, an IPv6 address's /64 network.

    ``203.0.113.7`` → ``203.0.113.7``; ``2001:db8:1:2:a:b:c:d`` → ``2001:db8:1:2::/64``; an
    IPv4-mapped IPv6 address (``::ffff:203.0.113.7``) is the IPv4 address it maps.
    """
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return UNKNOWN
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


def client_address() -> str:
    """The client of the current request (``client_of`` its remote address)."""
    return client_of(request.remote_addr)


def email_key(email: str | None) -> str | None:
    """The key of a customer's e-mail (None: no e-mail): the SHA-256 of it stripped and casefolded, in hex.

    ``Ada@Example.com `` and ``ada@example.com`` are one key. A key, not a secret: anyone who guesses
    an e-mail can compute its key. It spares an indexed copy of the e-mail itself, nothing more.
    """
    normalised = (email or "").strip().casefold()
    return hashlib.sha256(normalised.encode()).hexdigest() if normalised else None
