"""Fixtures for the web UI tests: CSRF off (except where a test turns it on), a staff login, readers.

Readers roll back after reading: on SQLite every transaction holds the write lock
(``BEGIN IMMEDIATE``), so a test must not keep one open while its client writes.
"""

from __future__ import annotations

import contextvars
import html
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from shop.models import Inventory, InventoryMovement, Order, Product, User
from tests.conftest import add_product  # noqa: F401  (re-exported for the web tests)

STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "s3cret-password"
TOKEN = re.compile(r'name="order_token" type="hidden" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _csrf_off(request):
    """Most tests post without tokens; tests/web/test_security.py proves CSRF is enforced."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["WTF_CSRF_ENABLED"] = False


class IsolatedClient(FlaskClient):
    """A test client whose requests run as in production, each in its own app context.

    Flask reuses an app context that is already pushed (the ``session`` fixture pushes one),
    which would share ``g`` (Flask-Login's cached user) and the database session between the
    test and every request it makes.
    """

    def open(self, *args, **kwargs):
        context = contextvars.Context()
        response = context.run(super().open, *args, **kwargs)
        if response.is_streamed:  # the body is produced later, in the request's context too
            response.response = _run_in(context, response.response)
        return response


def _run_in(context, iterable):
    iterator = iter(iterable)
    try:
        while True:
            try:
                yield context.run(next, iterator)
            except StopIteration:
                return
    finally:
        if hasattr(iterable, "close"):
            context.run(iterable.close)


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def make_user(session, email=STAFF_EMAIL, password=STAFF_PASSWORD, *, is_staff=True) -> User:
    user = User(email=email, is_staff=is_staff)
    user.set_password(password)
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def staff(session) -> User:
    return make_user(session)


def log_in(client, email=STAFF_EMAIL, password=STAFF_PASSWORD, **data):
    return client.post("/staff/login", data={"email": email, "password": password, **data})


@pytest.fixture
def staff_client(client, staff):
    """A client logged in as a staff member through the login form."""
    response = log_in(client)
    assert response.status_code == 302, response.text
    return client


def order_token(client) -> str:
    """The signed order number of a freshly rendered checkout form."""
    return TOKEN.search(client.get("/").text).group(1)


def checkout(
    client,
    quantities: dict[str, object],
    *,
    token=None,
    button="place",
    name="Ada Lovelace",
    email="ada@example.com",
    follow=False,
):
    """Submit the checkout form as a browser would."""
    data = {f"qty-{sku}": str(q) for sku, q in quantities.items()}
    data.update(customer_name=name, customer_email=email, order_token=token or order_token(client))
    data[button] = "1"
    return client.post("/", data=data, follow_redirects=follow)


def read(session, stmt):
    """One value from the database, then roll back (see the module docstring)."""
    try:
        return session.scalar(stmt)
    finally:
        session.rollback()


def read_rows(session, stmt):
    """Plain rows (not ORM objects, which would reload themselves later), then roll back."""
    try:
        return session.execute(stmt).all()
    finally:
        session.rollback()


def stock(session, sku):
    return read(session, select(Inventory.quantity).join(Product).where(Product.sku == sku))


def orders(session):
    """(id, number, status, customer_name, customer_email) of every order, oldest first."""
    return read_rows(
        session,
        select(Order.id, Order.number, Order.status, Order.customer_name, Order.customer_email).order_by(
            Order.id
        ),
    )


def ledger(session, sku=None):
    """(reason, delta, quantity_after, actor, note, order_id) of every ledger row, oldest first."""
    stmt = (
        select(
            InventoryMovement.reason,
            InventoryMovement.delta,
            InventoryMovement.quantity_after,
            InventoryMovement.actor,
            InventoryMovement.note,
            InventoryMovement.order_id,
        )
        .join(Product)
        .order_by(InventoryMovement.id)
    )
    if sku:
        stmt = stmt.where(Product.sku == sku)
    return read_rows(session, stmt)


def row_count(session, model):
    return read(session, select(func.count()).select_from(model))


def flashes(page: str) -> str:
    """The text of the flash messages of a page, whitespace collapsed."""
    found = re.search(r'<div class="flashes">(.*?)</div>\s*</div>\s*</div>', page, re.S)
    if not found:
        return ""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())
