"""Placing orders from SKU lines: the entry point the CLI, web and API share."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from . import stock
from .errors import Problem
from .models import Order, OrderItem, Product

_PRODUCTS_BY_SKU = select(Product).where(Product.sku.in_(bindparam("skus", expanding=True)))  # built once


def customer_problems(name: str | None, email: str | None) -> list[Problem]:
    problems = []
    if not name or not name.strip() or len(name) > 200:
        problems.append(Problem("invalid_customer", "Customer name is required (at most 200 characters)."))
    if not email or "@" not in email or len(email) > 254 or any(c.isspace() for c in email.strip()):
        problems.append(Problem("invalid_customer", "A valid customer e-mail address is required."))
    return problems


def place_order(
    session: Session,
    lines: Iterable[tuple[str, object]],
    *,
    status: str,
    customer_name: str,
    customer_email: str,
    number: str | None = None,
) -> Order:
    """Add an order for ``(sku, quantity)`` lines and flush it: the observer takes stock.

    Raises an ``InventoryError`` listing every problem (unknown SKUs, bad quantities,
    unavailable products, shortages, bad customer details); nothing is written then.
    A ``number`` chosen in advance (by a checkout form) makes a repeated submission fail
    on the unique order number instead of placing a second order.
    """
    lines = list(lines)
    stock.check_status(status)
    products = {p.sku: p for p in session.scalars(_PRODUCTS_BY_SKU, {"skus": list({s for s, _ in lines})})}
    problems = customer_problems(customer_name, customer_email)
    for sku in dict.fromkeys(sku for sku, _ in lines if sku not in products):
        problems.append(Problem("unknown_product", f"There is no product {sku}.", sku=sku))
    order = Order(
        **({"number": number} if number else {}),
        status=status,
        customer_name=(customer_name or "").strip(),
        customer_email=(customer_email or "").strip(),
        items=[OrderItem(product=products[sku], quantity=qty) for sku, qty in lines if sku in products],
    )
    if problems:  # raises, adding the problems of the known lines (stock included) to these
        stock.prepare_lines(session, order, taking=status in stock.COMMITTING, problems=problems)
    session.add(order)
    session.flush()
    return order
