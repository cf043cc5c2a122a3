"""What only the web UI tests get: CSRF off (except where a test turns it on), an isolated ``client``.

Their staff login, checkout and flash helpers are in ``tests/support/web.py``; their readers,
which roll back after reading, in ``tests/support/readers.py``.
"""

from __future__ import annotations

import pytest

from tests.support.factories import add_product
from tests.support.web import IsolatedClient


@pytest.fixture(autouse=True)
def _csrf_off(request):
    """Most tests post without tokens; tests/web/test_web_security.py proves CSRF is enforced."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def catalog(session):
    """The storefront's products: in stock, low, sold out, unavailable, discontinued, no inventory row."""
    add_product(session, "TEA", 10, price_cents=1250, threshold=2)
    add_product(session, "CUP", 2, price_cents=800, threshold=2)
    add_product(session, "POT", 0, threshold=2)
    add_product(session, "KETTLE", 5, status="unavailable")
    add_product(session, "SCALE", 5, status="discontinued")
    add_product(session, "GIFT", None)
    return session
