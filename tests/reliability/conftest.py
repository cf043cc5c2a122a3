"""Fixtures of the reliability tests: an app per backend, an isolated client, a staff login.

The helpers come from ``tests/conftest.py`` and ``tests/web/conftest.py``; only the backend
choice differs (the fuzz tests pick their backends themselves to stay within their time budget).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Order, OrderItem, Product
from tests.conftest import _make_app, add_product
from tests.web.conftest import IsolatedClient, log_in, make_user


def make_web_app(database_urls, backend: str, *, csrf: bool = False):
    """Yield an app on a migrated ``backend`` database holding two stocked products and a staff user."""
    for app in _make_app(database_urls(backend)):
        app.config["WTF_CSRF_ENABLED"] = csrf
        app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash must show up as the 500 a user would get
        app.test_client_class = IsolatedClient
        with app.app_context():
            add_product(db.session, "TEA", 50)
            add_product(db.session, "COFFEE", 5, threshold=10)
            make_user(db.session)
            db.session.remove()
        yield app


def staff_client_of(app):
    client = app.test_client()
    response = log_in(client)
    assert response.status_code == 302, response.text
    return client


def snapshot(app):
    """Everything a refused request must leave alone: stock per product, ledger, orders, statuses."""
    with app.app_context():
        try:
            return {
                "stock": dict(
                    db.session.execute(select(Product.sku, Inventory.quantity).join(Inventory)).all()
                ),
                "status": dict(db.session.execute(select(Product.sku, Product.status)).all()),
                "ledger": db.session.scalar(select(func.count()).select_from(InventoryMovement)),
                "orders": dict(db.session.execute(select(Order.number, Order.status)).all()),
                "items": db.session.scalar(select(func.count()).select_from(OrderItem)),
            }
        finally:
            db.session.remove()


def assert_ledger_balances(app):
    """DESIGN.md §4: for every product, stock on hand == the sum of its ledger deltas."""
    with app.app_context():
        try:
            ledger = dict(
                db.session.execute(
                    select(InventoryMovement.product_id, func.sum(InventoryMovement.delta)).group_by(
                        InventoryMovement.product_id
                    )
                ).all()
            )
            stock = dict(db.session.execute(select(Inventory.product_id, Inventory.quantity)).all())
        finally:
            db.session.remove()
    assert stock == {pid: ledger.get(pid, 0) for pid in stock}


@pytest.fixture
def sqlite_app(database_urls):
    yield from make_web_app(database_urls, "sqlite")
