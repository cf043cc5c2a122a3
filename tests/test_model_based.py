"""A Hypothesis state machine drives the shop and checks it against a small in-memory model."""

from collections import Counter

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, select

from shop import orders, stock
from shop.cli import ledger_mismatches
from shop.database import commit_unit_of_work
from shop.errors import InventoryError
from shop.extensions import db
from shop.models import Inventory, InventoryMovement, Order, Product
from shop.orders import place_order
from tests.support.databases import make_app

# sku: (initial stock or None for no inventory row, status)
CATALOG = {
    "A": (6, "active"),
    "B": (3, "active"),
    "C": (10, "active"),
    "D": (4, "unavailable"),
    "E": (5, "discontinued"),
    "F": (None, "active"),
}
# Mostly sellable lines, so that orders go through and their status changes get exercised too.
LINE_SKUS = st.sampled_from(["A", "A", "B", "C", "C", "C", "D", "E", "F", "NOPE"])
QUANTITIES = st.sampled_from([1, 1, 1, 2, 2, 3, 0, -1])
STATUSES = ["draft", "confirmed", "paid", "cancelled"]


@pytest.fixture(params=["sqlite", "postgresql"])
def model_app(request, database_urls):
    yield from make_app(database_urls(request.param))


class ShopMachine(RuleBasedStateMachine):
    app = None  # set by the test

    def __init__(self):
        super().__init__()
        self.ctx = self.app.app_context()
        self.ctx.push()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(delete(table))
        for sku, (quantity, status) in CATALOG.items():
            product = Product(sku=sku, name=sku, price_cents=100, status=status)
            if quantity is not None:
                product.inventory = Inventory(quantity=quantity)
            db.session.add(product)
        db.session.commit()
        self.stock = {sku: q for sku, (q, _) in CATALOG.items() if q is not None}
        self.product_status = {sku: status for sku, (_, status) in CATALOG.items()}
        self.orders = {}  # number -> {"status", "lines": Counter, "committed": bool}

    def teardown(self):
        db.session.remove()
        self.ctx.pop()

    # -- what the model expects ----------------------------------------------------------

    def can_take(self, wanted: Counter) -> bool:
        return bool(wanted) and all(
            sku in self.stock and self.product_status[sku] == "active" and self.stock[sku] >= n
            for sku, n in wanted.items()
        )

    # -- rules -----------------------------------------------------------------------------

    @rule(lines=st.lists(st.tuples(LINE_SKUS, QUANTITIES), max_size=4), status=st.sampled_from(STATUSES))
    def create_order(self, lines, status):
        wanted = Counter()
        for sku, quantity in lines:
            wanted[sku] += quantity
        lines_ok = all(sku in CATALOG and quantity >= 1 for sku, quantity in lines)
        takes = status in orders.COMMITTING
        expect_ok = lines_ok and (not takes or self.can_take(wanted))
        try:
            order = commit_unit_of_work(
                lambda: place_order(
                    db.session, lines, status=status, customer_name="M", customer_email="m@example.com"
                ),
                actor="model",
            )
        except InventoryError:
            assert not expect_ok, f"refused an order the model accepts: {lines} {status}"
            return
        assert expect_ok, f"accepted an order the model refuses: {lines} {status}"
        if takes:
            for sku, n in wanted.items():
                self.stock[sku] -= n
        self.orders[order.number] = {"status": status, "lines": wanted, "committed": takes}

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), target_status=st.sampled_from(STATUSES))
    def change_status(self, data, target_status):
        number = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[number]
        allowed = target_status in orders.TRANSITIONS[order["status"]]
        takes = allowed and target_status in orders.COMMITTING and not order["committed"]
        returns = allowed and target_status == "cancelled" and order["committed"]
        same = target_status == order["status"]
        expect_ok = same or (allowed and (not takes or self.can_take(order["lines"])))

        def work():
            db.session.scalar(select(Order).where(Order.number == number)).status = target_status
            db.session.flush()

        try:
            commit_unit_of_work(work, actor="model")
        except InventoryError:
            assert not expect_ok, f"refused {order['status']} -> {target_status}"
            return
        assert expect_ok, f"allowed {order['status']} -> {target_status}"
        if takes or returns:
            for sku, n in order["lines"].items():
                self.stock[sku] += -n if takes else n
        order["status"] = target_status
        order["committed"] = order["committed"] or takes

    @rule(
        sku=st.sampled_from(sorted(CATALOG)),
        delta=st.integers(-8, 8),
        reason=st.sampled_from(["restock", "adjustment"]),
    )
    def adjust(self, sku, delta, reason):
        current = self.stock.get(sku, 0)
        expect_ok = delta != 0 and not (reason == "restock" and delta < 0) and current + delta >= 0
        try:
            commit_unit_of_work(
                lambda: stock.adjust_stock(
                    db.session, db.session.scalar(select(Product).where(Product.sku == sku)), delta, reason
                ),
                actor="model",
            )
        except InventoryError:
            assert not expect_ok
            return
        assert expect_ok
        self.stock[sku] = current + delta

    @rule(
        sku=st.sampled_from(sorted(CATALOG)),
        status=st.sampled_from(["active", "unavailable", "discontinued"]),
    )
    def set_product_status(self, sku, status):
        def work():
            db.session.scalar(select(Product).where(Product.sku == sku)).status = status

        commit_unit_of_work(work, actor="model")
        self.product_status[sku] = status

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def stock_matches_the_model_and_the_ledger(self):
        actual = dict(db.session.execute(select(Product.sku, Inventory.quantity).join(Inventory)).all())
        assert actual == self.stock
        assert min(actual.values()) >= 0
        assert ledger_mismatches() == []

    @invariant()
    def each_committed_order_moved_each_product_once(self):
        rows = Counter(
            db.session.execute(
                select(Order.number, InventoryMovement.reason, func.count())
                .join(InventoryMovement, InventoryMovement.order_id == Order.id)
                .group_by(Order.number, InventoryMovement.reason)
            ).all()
        )
        moved = {(number, reason): n for (number, reason, n) in rows}
        for number, order in self.orders.items():
            products = len(order["lines"]) if order["committed"] else 0
            returned = products if order["committed"] and order["status"] == "cancelled" else 0
            assert moved.get((number, "order_placed"), 0) == products
            assert moved.get((number, "order_cancelled"), 0) == returned


def test_the_shop_behaves_like_its_model(model_app):
    ShopMachine.app = model_app
    run_state_machine_as_test(
        ShopMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
