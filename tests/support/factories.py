"""Factories: the rows a test sets up (products, orders, staff users), each made through the session it is given."""

from __future__ import annotations

from sqlalchemy import select

from shop.api.auth import issue_token
from shop.holds import hold_until
from shop.models import Inventory, Location, Order, OrderItem, Product, User
from shop.orders import place_order


def add_place(session, code, *, priority=0, fulfils=True, active=True) -> Location:
    """A committed location (``fulfils``: orders may take stock there)."""
    location = Location(
        code=code, name=f"Location {code}", priority=priority, fulfils_orders=fulfils, active=active
    )
    session.add(location)
    session.commit()
    return location


def add_product(session, sku, quantity=10, *, price_cents=1000, status="active", threshold=2, at=None):
    """A committed product with ``quantity`` in stock at the default location (None: no inventory row), or
    with ``at`` ({location code: units}) instead, each ledgered as ``initial_stock``."""
    product = Product(
        sku=sku, name=f"Product {sku}", price_cents=price_cents, status=status, low_stock_threshold=threshold
    )
    if at is not None:
        places = {p.code: p for p in session.scalars(select(Location).where(Location.code.in_(list(at))))}
        product.stocks.extend(Inventory(location=places[code], quantity=units) for code, units in at.items())
    elif quantity is not None:
        product.inventory = Inventory(quantity=quantity)
    session.add(product)
    session.commit()
    return product


def order_of(session, *lines, status="confirmed"):
    """A new order for (product, quantity) lines, not yet added to the session."""
    return Order(
        status=status,
        customer_name="Ada",
        customer_email="ada@example.com",
        items=[OrderItem(product=p, quantity=q) for p, q in lines],
    )


def place_hold(session, *lines, email="ada@example.com"):
    """A committed customer hold: a confirmed order for (sku, quantity) lines, expiring as configured."""
    order = place_order(
        session,
        lines,
        status="confirmed",
        customer_name="Ada",
        customer_email=email,
        hold_until=hold_until(),
    )
    session.commit()
    return order


STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "s3cret-password"


def make_user(session, email=STAFF_EMAIL, password=STAFF_PASSWORD, *, is_staff=True) -> User:
    """A committed user who logs in through the staff login form with ``password``."""
    user = User(email=email, is_staff=is_staff)
    user.set_password(password)
    session.add(user)
    session.commit()
    return user


def make_staff(session, email=STAFF_EMAIL, *, is_staff=True) -> tuple[User, str]:
    """A committed staff user of the API (no password) and a live bearer token of theirs."""
    user = User(email=email, is_staff=is_staff, password_hash="!")  # no password: API only
    session.add(user)
    _, token = issue_token(session, user, "tests")
    session.commit()
    return user, token
