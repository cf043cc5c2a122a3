"""The client of a request (shop.clients): the one key of the rate limits, anonymous keys and held units."""

from __future__ import annotations

import pytest

from shop.clients import client_of


@pytest.mark.parametrize(
    "address, client",
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:a:b:c:d", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"),  # one spelling per /64
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client seen through an IPv6 socket
        ("", "unknown"),
        (None, "unknown"),
        ("unix:/run/shop.sock", "unknown"),
    ],
)
def test_an_address_belongs_to_its_client(address, client):
    assert client_of(address) == client
