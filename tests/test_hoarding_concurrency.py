"""One address against SHOP_MAX_HELD_UNITS with concurrent checkouts (PostgreSQL and MariaDB row locks).

Every request counts the client's live holds before it places its own; without the client's lock
row (``shop.hoarding.lock_client``) requests that count at the same moment all see room, and
together they hold more than the limit. tests/web/test_hoarding.py tries the same one at a time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from shop.extensions import db
from shop.models import Order, OrderItem
from tests.support.api import order_body
from tests.support.factories import add_product
from tests.support.readers import assert_ledger_balances
from tests.support.web import IsolatedClient, fill_cart, order_token

REQUESTS = 12
UNITS = 3  # each: 12 × 3 = 36 units wanted, room for 6 orders (18 units) under 20
SKUS = ("TEA", "CUP", "POT")


@pytest.fixture
def shop(server_app):
    server_app.config.update(SHOP_DEFAULT_MAX_PER_ORDER=10, SHOP_MAX_HELD_UNITS=20, WTF_CSRF_ENABLED=False)
    server_app.test_client_class = IsolatedClient
    with server_app.app_context():
        for sku in SKUS:
            add_product(db.session, sku, 100)
        db.session.remove()
    return server_app


def web_checkout(app, sku: str):
    """A prepared checkout (cart filled, checkout page read); calling it sends "Place order"."""
    client = app.test_client()
    fill_cart(client, {sku: UNITS})
    data = {"customer_name": "Ada", "customer_email": "ada@example.com", "order_token": order_token(client)}

    def send() -> tuple[int, str]:
        response = client.post("/checkout", data={**data, "place": "1"})
        return response.status_code, response.get_data(as_text=True)

    return send


def api_checkout(app, sku: str, n: int):
    client = app.test_client()

    def send() -> tuple[int, str]:
        response = client.post(
            "/api/v1/orders", json=order_body((sku, UNITS)), headers={"Idempotency-Key": f"k{n}"}
        )
        return response.status_code, response.get_data(as_text=True)

    return send


def held(app) -> tuple[int, int]:
    """(orders, units) of the live holds."""
    with app.app_context():
        orders = db.session.scalar(select(func.count()).select_from(Order).where(Order.status == "confirmed"))
        units = db.session.scalar(select(func.coalesce(func.sum(OrderItem.quantity), 0)))
        db.session.remove()
    return orders, units


def test_one_address_holds_at_most_20_units_however_many_checkouts_it_sends_at_once(shop):
    """Web and API checkouts from one address, all released at one barrier."""
    sends = [
        web_checkout(shop, SKUS[n % 3]) if n % 2 else api_checkout(shop, SKUS[n % 3], n)
        for n in range(REQUESTS)
    ]
    barrier = threading.Barrier(REQUESTS)

    def go(send):
        barrier.wait(timeout=30)
        return send()

    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(go, sends))
    placed = [status for status, _ in answers if status in (201, 302)]
    refused = [body for status, body in answers if status in (409, 422)]
    assert len(placed) + len(refused) == REQUESTS, answers
    assert all("hold_limit" in body or "may hold at most 20 units" in body for body in refused)
    assert held(shop) == (6, 18)  # exactly as many as fit, whatever the interleaving
    assert len(placed) == 6
    assert_ledger_balances(shop)
