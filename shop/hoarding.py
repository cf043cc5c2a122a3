"""Hoarding limits for customers: a per-order limit for products that set none, and the units one
client may hold at once across its live holds.

Customers' orders (the storefront's checkout, and ``POST /api/v1/orders`` without a staff token)
go through ``place_customer_order``; staff orders (the dashboard, staff tokens, the CLI) call
``shop.orders.place_order`` directly and are exempt. The rules:

- ``SHOP_DEFAULT_MAX_PER_ORDER``: a product without ``max_per_order`` allows this many units per
  order (problem ``over_limit``, as for a product's own limit);
- ``SHOP_MAX_HELD_UNITS``: the units in the live holds of one client (its address, IPv6 by /64:
  ``shop.clients``), this order's included, may not go over it; nor may the units in the live holds
  placed with the order's e-mail, from any address (problem ``hold_limit``, one for both).

``0`` turns either rule off. Both problems are reported together with every other problem.

Why the client's rows are locked: two checkouts of one client that each counted its holds without
a lock could both see room for their units, and together go over the limit. So before counting,
the checkout takes the rows in ``hold_clients`` of its address and of its e-mail (``email:`` and
``shop.clients.email_key``; created by their first hold) with one upsert that holds the row locks
until the transaction ends: the next checkout of that address or e-mail waits, then counts what the
first one committed. Others never wait. The upsert writes its rows in sorted order, so two
checkouts take the keys they share in the same order and never wait for each other in a circle. On
SQLite the unit of work's write lock serialises every checkout anyway; the same statement runs
there for the same bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import cast

from flask import current_app
from sqlalchemy import Insert, Table, bindparam, delete
from sqlalchemy.dialects import mysql, postgresql, sqlite

from .clients import email_key
from .database import commit_unit_of_work
from .errors import Problem
from .extensions import DbSession, db
from .holds import SYSTEM_ACTOR, units_held_by
from .models import HoldClient, Order, OrderStatus, utcnow
from .orders import place_order
from .stock import MAX_LINE_QUANTITY, is_whole_number

HOLD_LIMIT = "hold_limit"
EMAIL_CLIENT = "email:"  # an e-mail's row in hold_clients: this and its key (at most 70 characters)


@dataclass(frozen=True)
class CustomerLimits:
    """Who places a customer's order and the limits that hold for it (0: the rule is off)."""

    client: str  # shop.clients.client_address() of the request
    max_per_order: int  # units of a product without its own max_per_order
    max_held_units: int  # units in the live holds of the client, or of the e-mail, this order's included


def for_customer(client: str) -> CustomerLimits:
    """The limits a customer's order from ``client`` is held to, as configured now."""
    config = current_app.config
    return CustomerLimits(client, config["SHOP_DEFAULT_MAX_PER_ORDER"], config["SHOP_MAX_HELD_UNITS"])


def place_customer_order(
    session: DbSession,
    lines: Iterable[tuple[str, object]],
    *,
    limits: CustomerLimits,
    status: str,
    customer_name: str | None,
    customer_email: str | None,
    hold_until: datetime,
    number: str | None = None,
) -> Order:
    """``shop.orders.place_order`` for a customer: a confirmed order is a hold of ``limits.client`` and
    of ``customer_email``.

    Raises an ``InventoryError`` listing every problem, the limits' among them; nothing is written then.
    """
    lines = list(lines)
    email_hash = email_key(customer_email)
    problems = []
    if status == OrderStatus.CONFIRMED:
        problem = hold_limit_problem(session, limits, email_hash, ordered_units(lines), now=utcnow())
        problems = [problem] if problem is not None else []
    return place_order(
        session,
        lines,
        status=status,
        customer_name=customer_name,
        customer_email=customer_email,
        number=number,
        hold_until=hold_until,
        client=limits.client,
        client_email_hash=email_hash,
        default_max_per_order=limits.max_per_order,
        problems=problems,
    )


def ordered_units(lines: Iterable[tuple[str, object]]) -> int:
    """Units of an order's lines; a line with a bad quantity counts none (it is a problem of its own)."""
    return sum(q for _, q in lines if is_whole_number(q) and 0 < q <= MAX_LINE_QUANTITY)


def hold_limit_problem(
    session: DbSession, limits: CustomerLimits, email_hash: str | None, units: int, *, now: datetime
) -> Problem | None:
    """Problem ``hold_limit`` if ``units`` more would take the live holds of the client, or of the
    e-mail key ``email_hash`` (None: none known), over the limit.

    Locks their rows first (see the module's docstring), until the caller's transaction ends.
    """
    if not limits.max_held_units or not units:
        return None
    lock_clients(session, [limits.client, *([EMAIL_CLIENT + email_hash] if email_hash else [])], now)
    if max(units_held_by(session, limits.client, email_hash, now)) + units <= limits.max_held_units:
        return None
    return Problem(
        HOLD_LIMIT,
        f"Orders from your address or e-mail may hold at most {limits.max_held_units} units at once "
        "until they are paid, and this one would go over that. Pay for your earlier orders or wait "
        "until their holds expire, then try again.",
        requested=units,
        limit=limits.max_held_units,
    )


_HOLD_CLIENTS = cast(Table, HoldClient.__table__)


@cache
def _lock_statement(dialect: str, rows: int) -> Insert:
    """INSERT ``rows`` clients' rows (``client0``, ``client1``, …, in that order), or update those that
    are there: either way the rows stay locked."""
    now = bindparam("now", type_=_HOLD_CLIENTS.c.last_hold_at.type)
    values = [{"client": bindparam(f"client{n}"), "last_hold_at": now} for n in range(rows)]
    if dialect == "postgresql":
        pg = postgresql.insert(_HOLD_CLIENTS).values(values)
        return pg.on_conflict_do_update(
            index_elements=["client"], set_={"last_hold_at": pg.excluded.last_hold_at}
        )
    if dialect == "sqlite":
        lite = sqlite.insert(_HOLD_CLIENTS).values(values)
        return lite.on_conflict_do_update(
            index_elements=["client"], set_={"last_hold_at": lite.excluded.last_hold_at}
        )
    my = mysql.insert(_HOLD_CLIENTS).values(values)  # MariaDB takes an exclusive lock on each row it finds
    return my.on_duplicate_key_update(last_hold_at=my.inserted.last_hold_at)


def lock_clients(session: DbSession, clients: Iterable[str], now: datetime) -> None:
    """Lock the rows of ``clients`` in ``hold_clients`` (created if new) until the transaction ends.

    One statement, its rows in sorted order: every checkout locks the keys it shares with another in
    the same order (two checkouts that each held one key the other waits for would deadlock).
    """
    ordered = sorted(set(clients))
    statement = _lock_statement(session.get_bind().dialect.name, len(ordered))
    session.execute(statement, {"now": now} | {f"client{n}": client for n, client in enumerate(ordered)})


def forget_idle_clients(now: datetime | None = None) -> int:
    """Delete the rows of clients whose last hold has run out (the worker, hourly); how many.

    Their holds can no longer count, and their addresses are kept no longer than their holds are.
    """
    cutoff = (now or utcnow()) - timedelta(minutes=current_app.config["SHOP_HOLD_MINUTES"])

    def work() -> int:
        gone = db.session.execute(delete(HoldClient).where(HoldClient.last_hold_at < cutoff))
        return gone.rowcount  # type: ignore[attr-defined]

    return commit_unit_of_work(work, actor=SYSTEM_ACTOR)
