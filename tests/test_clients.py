"""The client of a request (shop.clients): the one key of the rate limits, anonymous keys and held units;
and the key of a customer's e-mail, the other key of held units."""

from __future__ import annotations

import hashlib

import pytest

from shop.clients import client_of, email_key


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


def test_an_email_key_is_its_sha256_stripped_and_casefolded():
    key = email_key("ada@example.com")
    assert key == hashlib.sha256(b"ada@example.com").hexdigest() and len(key) == 64
    assert email_key("  Ada@Example.COM\n") == key
    assert email_key("STRASSE@example.com") == email_key("straße@example.com")  # casefold, not lower
    assert email_key("bob@example.com") != key
    assert email_key("") is email_key("   ") is email_key(None) is None
