"""Fixtures of the API tests (helpers live in ``tests.api.support``)."""

from __future__ import annotations

import pytest

from tests.api.support import ApiClient, make_staff


@pytest.fixture
def api(app):
    return ApiClient(app)


@pytest.fixture
def staff_token(session):
    return make_staff(session)[1]


@pytest.fixture
def keys():
    """Fresh idempotency keys: key-1, key-2, …"""
    counter = iter(range(1, 1_000_000))
    return lambda: f"key-{next(counter)}"
