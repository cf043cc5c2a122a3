"""Concurrent checkouts, cancellations and transfers on real row locks: no oversell, no deadlock, no lost stock.

With one location and with three: the stock of each product spread over them, so that orders take
their lines from several places in every order, while transfers move units between them.
"""

import logging
import random
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import event, func, select, text

from shop import stock
from shop.cli import ledger_mismatches
from shop.database import commit_unit_of_work
from shop.errors import InsufficientStock
from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Order, OrderItem, OrderItemAllocation, Product
from shop.orders import place_order
from tests.support.factories import add_place, add_product

THREADS = 8
OPERATIONS_PER_THREAD = 30
INITIAL_STOCK = {"HOT-1": 30, "HOT-2": 30, "HOT-3": 40, "WARM-1": 60, "WARM-2": 60}
PLACES = {1: ["main"], 3: ["main", "floor", "back"]}  # the race runs with one location, and with three


class Recorder(logging.Handler):
    """Collects the unit-of-work retry warnings, which only a deadlock or lock timeout causes."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def transfer(rng, places):
    """Move a few units of a random product between two random places (refused if the source is short)."""
    sku = rng.choice(list(INITIAL_STOCK))
    source, target = rng.sample(places, 2)
    product = db.session.scalar(select(Product).where(Product.sku == sku))
    commit_unit_of_work(
        lambda: stock.transfer_stock(db.session, product, rng.randint(1, 4), source, target), actor="mover"
    )


def shopper(app, seed, placed, unexpected, places=("main",)):
    rng = random.Random(seed)
    mine = []
    with app.app_context():
        for _ in range(OPERATIONS_PER_THREAD):
            try:
                if len(places) > 1 and rng.random() < 0.15:
                    transfer(rng, list(places))
                    continue
                if mine and rng.random() < 0.25:
                    number = mine.pop(rng.randrange(len(mine)))

                    def cancel(number=number):
                        db.session.scalar(select(Order).where(Order.number == number)).status = "cancelled"
                        db.session.flush()

                    commit_unit_of_work(cancel, actor="cancel")
                    continue
                skus = rng.sample(list(INITIAL_STOCK), rng.randint(1, 4))
                lines = [(sku, rng.randint(1, 3)) for sku in skus]
                if rng.random() < 0.3:
                    lines.append((lines[0][0], 1))  # a duplicate line of the same product
                rng.shuffle(lines)
                order = commit_unit_of_work(
                    lambda lines=lines: place_order(
                        db.session,
                        lines,
                        status=rng.choice(["confirmed", "paid"]),
                        customer_name="Load",
                        customer_email="load@example.com",
                    ),
                    actor="load",
                )
                mine.append(order.number)
                placed.append(order.number)
            except InsufficientStock:
                pass
            except Exception as exc:  # noqa: BLE001 - anything else is a failure of the test
                unexpected.append(repr(exc))
            finally:
                db.session.remove()


def spread(app, places) -> None:
    """The products with their initial stock spread over ``places`` as evenly as it goes, the first getting the rest."""
    with app.app_context():
        for priority, code in enumerate(places[1:], start=1):
            add_place(db.session, code, priority=priority)
        for sku, quantity in INITIAL_STOCK.items():
            share = quantity // len(places)
            at = {code: share for code in places}
            at[places[0]] += quantity - share * len(places)
            add_product(db.session, sku, price_cents=500, at=at)


@pytest.mark.slow
@pytest.mark.parametrize("places", sorted(PLACES))
def test_concurrent_checkouts_and_cancellations_never_oversell_or_deadlock(server_app, places):
    app = server_app
    spread(app, PLACES[places])

    retries = Recorder()
    logging.getLogger("shop.database").addHandler(retries)
    placed, unexpected = [], []
    threads = [
        threading.Thread(target=shopper, args=(app, seed, placed, unexpected, PLACES[places]))
        for seed in range(THREADS)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        logging.getLogger("shop.database").removeHandler(retries)

    assert not any(thread.is_alive() for thread in threads), "a checkout hung"
    assert unexpected == []
    assert retries.messages == [], "a deadlock or lock timeout happened"
    with app.app_context():
        session = db.session
        at = session.execute(select(Product.sku, Inventory.quantity).join(Inventory)).all()
        assert min(quantity for _, quantity in at) >= 0  # at every location
        stock = Counter()
        for sku, quantity in at:
            stock[sku] += quantity
        sold = Counter()
        for sku, quantity in session.execute(
            select(Product.sku, func.sum(OrderItem.quantity))
            .join(OrderItem.product)
            .join(OrderItem.order)
            .where(Order.status.in_(["confirmed", "paid"]))
            .group_by(Product.sku)
        ):
            sold[sku] = int(quantity)
        assert len(placed) > THREADS * 5, "the workload placed too few orders to prove anything"
        assert sum(sold.values()) > 0 and min(stock.values()) >= 0
        assert {sku: stock[sku] + sold[sku] for sku in INITIAL_STOCK} == INITIAL_STOCK
        assert ledger_mismatches() == []
        # every committed order took each product's stock at a location once; each cancelled one returned it once
        per_order = Counter(
            session.execute(
                select(
                    InventoryMovement.order_id,
                    InventoryMovement.reason,
                    InventoryMovement.product_id,
                    InventoryMovement.location_id,
                ).where(InventoryMovement.order_id.is_not(None))
            ).all()
        )
        assert set(per_order.values()) == {1}
        cancelled = session.scalar(select(func.count()).select_from(Order).where(Order.status == "cancelled"))
        returned = session.scalar(
            select(func.count(func.distinct(InventoryMovement.order_id))).where(
                InventoryMovement.reason == "order_cancelled"
            )
        )
        assert returned == cancelled > 0
        # every line of every order that took stock is allocated, all of it and no more
        allocated = dict(
            session.execute(
                select(OrderItem.id, func.sum(OrderItemAllocation.quantity))
                .join(OrderItemAllocation, OrderItemAllocation.order_item_id == OrderItem.id)
                .group_by(OrderItem.id)
            ).all()
        )
        lines = dict(
            session.execute(
                select(OrderItem.id, OrderItem.quantity)
                .join(Order)
                .where(Order.stock_committed_at.is_not(None))
            ).all()
        )
        assert {item: int(units) for item, units in allocated.items()} == lines
        if places > 1:  # the race really used the places: orders took from several, transfers moved units
            taken_at = session.scalars(
                select(func.count(func.distinct(InventoryMovement.location_id))).where(
                    InventoryMovement.reason == "order_placed"
                )
            ).one()
            moved = session.scalar(select(func.count()).where(InventoryMovement.reason == "transfer_in"))
            assert taken_at == places and moved > 0


def race(app, *changes):
    """Load the first order in one thread per change, then make the changes at the same moment."""
    ready = threading.Barrier(len(changes), timeout=10)
    outcomes = [None] * len(changes)

    def run(index, status):
        with app.app_context():
            order = db.session.scalar(select(Order))
            _ = order.items  # loaded before the other thread commits, as a web request would have it
            ready.wait()
            try:
                order.status = status
                db.session.commit()
                outcomes[index] = "ok"
            except Exception as exc:  # noqa: BLE001
                db.session.rollback()
                outcomes[index] = type(exc).__name__

    threads = [threading.Thread(target=run, args=(i, status)) for i, status in enumerate(changes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_simultaneous_cancellations_return_the_stock_once(server_app):
    with server_app.app_context():
        add_product(db.session, "TEA", 10, price_cents=100)
        place_order(
            db.session, [("TEA", 4)], status="paid", customer_name="A", customer_email="a@example.com"
        )
        db.session.commit()
    assert race(server_app, "cancelled", "cancelled") == ["ok", "ok"]
    with server_app.app_context():
        assert db.session.scalar(select(Inventory.quantity)) == 10
        assert ledger_mismatches() == []
        assert (
            db.session.scalar(select(func.count()).where(InventoryMovement.reason == "order_cancelled")) == 1
        )


def test_confirming_and_cancelling_a_draft_at_once_leaves_the_stock_whole(server_app):
    with server_app.app_context():
        add_product(db.session, "TEA", 10, price_cents=100)
        place_order(
            db.session, [("TEA", 4)], status="draft", customer_name="A", customer_email="a@example.com"
        )
        db.session.commit()
    outcomes = race(server_app, "confirmed", "cancelled")
    # Either the confirmation came first (stock taken, then returned by the cancellation) or the
    # cancellation did (and confirming a cancelled order is refused).
    assert outcomes in (["ok", "ok"], ["InvalidStatusTransition", "ok"])
    with server_app.app_context():
        assert db.session.scalar(select(Order.status)) == "cancelled"
        assert db.session.scalar(select(Inventory.quantity)) == 10
        assert ledger_mismatches() == []


def waiting_for_a_row_lock(session) -> int:
    """Transactions of this database now waiting for a row lock."""
    if session.get_bind().dialect.name == "postgresql":
        sql = (
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
    else:
        sql = "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"
    return session.execute(text(sql)).scalar_one()


def test_an_order_waiting_for_a_restock_is_judged_on_the_restocked_quantity(server_app):
    """The stock is checked as it is once the row is locked, not as it was when the statement began."""
    with server_app.app_context():
        add_product(db.session, "TEA", 0, price_cents=100)
    restocked, release = threading.Event(), threading.Event()
    outcome = {}

    def restock():
        with server_app.app_context():

            def work():
                product = db.session.scalar(select(Product).where(Product.sku == "TEA"))
                stock.adjust_stock(db.session, product, 5, "restock")
                restocked.set()
                assert release.wait(timeout=20)  # holds the row lock until the order waits for it

            commit_unit_of_work(work, actor="restock")

    def checkout():
        with server_app.app_context():
            try:
                commit_unit_of_work(
                    lambda: place_order(
                        db.session,
                        [("TEA", 2)],
                        status="confirmed",
                        customer_name="A",
                        customer_email="a@example.com",
                    ),
                    actor="shopper",
                )
                outcome["result"] = "placed"
            except Exception as exc:  # noqa: BLE001
                outcome["result"] = repr(exc)

    restocker = threading.Thread(target=restock)
    restocker.start()
    assert restocked.wait(timeout=20)
    shopper = threading.Thread(target=checkout)
    shopper.start()
    try:
        with server_app.app_context():
            deadline = time.monotonic() + 20
            while not waiting_for_a_row_lock(db.session) and time.monotonic() < deadline:
                db.session.rollback()
                time.sleep(0.25)  # MariaDB refreshes INNODB_TRX only when it was not read for 0.1 s
            assert waiting_for_a_row_lock(db.session), (
                f"the checkout never waited for the restock's lock: {outcome}"
            )
            db.session.rollback()
    finally:
        release.set()
        restocker.join(timeout=30)
        shopper.join(timeout=30)
    assert outcome == {"result": "placed"}
    with server_app.app_context():
        assert db.session.scalar(select(Inventory.quantity)) == 3
        assert ledger_mismatches() == []


# PostgreSQL locks and updates in one statement.
@pytest.mark.parametrize("server_app", ["mariadb"], indirect=True)
def test_on_mariadb_a_checkout_reads_its_own_inventory_rows_only_by_primary_key(server_app):
    """MariaDB locks an order's rows in (product, location) order, then updates them with a guard. For that
    update of a small table its optimizer chose a scan of the whole table, and once in about 90 runs the race
    above deadlocked: a cancellation's update waited there for the row of a product it did not move, which a
    checkout held while it waited for one of the cancellation's. Both statements now go by the primary key,
    reading no rows but the order's own."""
    spread(server_app, PLACES[3])
    with server_app.app_context():
        db.session.execute(text("ANALYZE TABLE inventory")).all()  # the statistics of a shop: a small table
        db.session.commit()
        sent = []

        def on_inventory(conn, cursor, statement, parameters, *rest):
            if "FROM inventory" in statement or statement.startswith("UPDATE inventory"):
                sent.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", on_inventory)
        try:
            lines = [(sku, 25) for sku in ("HOT-1", "HOT-2", "WARM-1", "WARM-2")]  # from all three places
            commit_unit_of_work(
                lambda: place_order(
                    db.session, lines, status="confirmed", customer_name="A", customer_email="a@example.com"
                ),
                actor="test",
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", on_inventory)
        assert [statement.split()[0] for statement, _ in sent] == ["SELECT", "UPDATE"]
        cursor = db.session.connection().connection.cursor()
        for statement, parameters in sent:
            cursor.execute("EXPLAIN " + statement, parameters)
            columns = [c[0] for c in cursor.description]
            plans = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            inventory = [plan for plan in plans if plan["table"] == "inventory"]
            assert [(plan["type"], plan["key"]) for plan in inventory] == [("range", "PRIMARY")], statement
            assert int(inventory[0]["rows"]) <= 12  # the 4 products' rows at 3 places, of 15
