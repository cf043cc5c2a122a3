"""Readers used by the tests: they always go to the database, never the identity map.

``stock_of``, ``movements``, ``count`` and ``counts`` read through the test's session. The readers
of the web tests (``read``, ``read_rows``, ``stock``, ``orders``, ``ledger``, ``row_count``) roll
back after reading, so that the next read sees what the client wrote since (an open SQLite or
MariaDB transaction keeps reading its own snapshot). ``snapshot`` and ``assert_ledger_balances``
take an app and use a session of their own.
"""

from sqlalchemy import func, select

from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Location, Order, OrderItem, Product


def _stock_query(sku, location=None):
    """A product's units at ``location`` (a code), or at all its locations together (None if it has no row)."""
    stmt = select(func.sum(Inventory.quantity)).join(Product).where(Product.sku == sku)
    if location is not None:
        stmt = stmt.join(Location).where(Location.code == location)
    return stmt


def stock_of(session, sku, location=None):
    quantity = session.scalar(_stock_query(sku, location))
    return None if quantity is None else int(quantity)


def stock_by_location(session, sku):
    """{location code: units} of a product."""
    rows = session.execute(
        select(Location.code, Inventory.quantity)
        .join(Inventory.location)
        .join(Product)
        .where(Product.sku == sku)
    )
    return dict(rows.all())


def movements(session, sku=None, reason=None):
    stmt = select(InventoryMovement).join(Product).order_by(InventoryMovement.id)
    if sku:
        stmt = stmt.where(Product.sku == sku)
    if reason:
        stmt = stmt.where(InventoryMovement.reason == reason)
    return session.scalars(stmt).all()


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def counts(session):
    """Rows in the tables an order writes to: a refused order changes none of them."""
    return {m.__tablename__: count(session, m) for m in (Order, OrderItem, InventoryMovement)}


# -- readers that roll back after reading (the web tests) -----------------------------------------


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


def stock(session, sku, location=None):
    quantity = read(session, _stock_query(sku, location))
    return None if quantity is None else int(quantity)


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


# -- readers of a whole app, in a session of their own (the reliability tests) --------------------


def snapshot(app):
    """Everything a refused request must leave alone: stock per product and per location, ledger, orders, statuses."""
    with app.app_context():
        try:
            return {
                "stock": {
                    sku: int(quantity)
                    for sku, quantity in db.session.execute(
                        select(Product.sku, func.sum(Inventory.quantity))
                        .join(Inventory)
                        .group_by(Product.sku)
                    )
                },
                "locations": {
                    (sku, code): quantity
                    for sku, code, quantity in db.session.execute(
                        select(Product.sku, Location.code, Inventory.quantity)
                        .join(Inventory, Inventory.product_id == Product.id)
                        .join(Location, Location.id == Inventory.location_id)
                    )
                },
                "status": dict(db.session.execute(select(Product.sku, Product.status)).all()),
                "ledger": db.session.scalar(select(func.count()).select_from(InventoryMovement)),
                "orders": dict(db.session.execute(select(Order.number, Order.status)).all()),
                "items": db.session.scalar(select(func.count()).select_from(OrderItem)),
            }
        finally:
            db.session.remove()


def assert_ledger_balances(app):
    """docs/architecture.md: for every product at every location, stock == the sum of its ledger deltas there."""
    with app.app_context():
        try:
            key = (InventoryMovement.product_id, InventoryMovement.location_id)
            ledger = {
                (pid, lid): int(total)
                for pid, lid, total in db.session.execute(
                    select(*key, func.sum(InventoryMovement.delta)).group_by(*key)
                )
            }
            stock = {
                (pid, lid): quantity
                for pid, lid, quantity in db.session.execute(
                    select(Inventory.product_id, Inventory.location_id, Inventory.quantity)
                )
            }
        finally:
            db.session.remove()
    assert stock == {key: ledger.get(key, 0) for key in stock | ledger}
