"""A Hypothesis state machine drives the shop and checks it against a small in-memory model.

Its steps: orders (staff orders and customer holds), status changes, stock adjustments and
transfers at three locations, locations opened, closed and taken off orders, product statuses,
time passing, the hold sweeper, payments, reading the event feed and a worker delivering webhooks.
The model keeps the stock per (product, location) and places each order's lines by the allocation
rule itself; it knows which events each step must record; the feed must hold exactly those, and the
receiver must get each of them exactly once.
"""

import json
from collections import Counter
from datetime import datetime, timedelta
from functools import partial

import pytest
import time_machine
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from shop import orders, stock
from shop.cli import ledger_mismatches
from shop.database import commit_unit_of_work
from shop.errors import InventoryError, PaymentRefused
from shop.extensions import db
from shop.holds import commit_checkout, hold_until, release_expired_holds
from shop.locations import add_location, edit_location, find_location
from shop.models import (
    Inventory,
    InventoryMovement,
    Location,
    Order,
    OrderItem,
    OrderItemAllocation,
    Product,
    utcnow,
)
from shop.orders import place_order
from shop.outbox import Event, feed
from shop.outbox.worker import Worker
from shop.payments import Outcome, PaymentNotice, record_payment
from tests.support.databases import empty_tables, make_app
from tests.support.outbox import add_endpoint
from tests.support.receivers import WebhookReceiver

# code: (priority, fulfils orders); all start active
LOCATIONS = {"main": (0, True), "floor": (1, True), "store": (2, False)}
# sku: (initial stock per location, or None for no inventory row, status)
CATALOG = {
    "A": ({"main": 4, "floor": 2}, "active"),
    "B": ({"main": 1, "floor": 1, "store": 2}, "active"),
    "C": ({"main": 10}, "active"),
    "D": ({"main": 4}, "unavailable"),
    "E": ({"floor": 5}, "discontinued"),
    "F": (None, "active"),
}
# Mostly sellable lines, so that orders go through and their status changes get exercised too.
LINE_SKUS = st.sampled_from(["A", "A", "B", "C", "C", "C", "D", "E", "F", "NOPE"])
QUANTITIES = st.sampled_from([1, 1, 1, 2, 2, 3, 0, -1])
STATUSES = ["draft", "confirmed", "paid", "cancelled"]
NEW_STATUSES = st.sampled_from(["draft", "confirmed", "confirmed", "confirmed", "paid", "cancelled"])


LOW_STOCK_THRESHOLD = 5  # the products' default


@pytest.fixture(params=["sqlite", "postgresql"])
def model_app(request, database_urls):
    yield from make_app(database_urls(request.param), SHOP_WEBHOOKS_ALLOW_PRIVATE=True)


class ShopMachine(RuleBasedStateMachine):
    app = None  # set by the test

    def __init__(self):
        super().__init__()
        self.ctx = self.app.app_context()
        self.ctx.push()
        empty_tables(db.session)
        self.expected: Counter = Counter()  # events the feed must show next
        self.feed: list[str] = []  # ids of the events read from the feed so far
        # code -> [priority, fulfils orders, active]
        self.locations = {code: [priority, fulfils, True] for code, (priority, fulfils) in LOCATIONS.items()}
        for code, (priority, fulfils) in LOCATIONS.items():
            place = find_location(db.session, code) or add_location(db.session, code, code.title())
            place.priority, place.fulfils_orders = priority, fulfils
        db.session.flush()
        self.product_status = {sku: status for sku, (_, status) in CATALOG.items()}
        self.stock = {}  # (sku, location code) -> units, for every row there is
        for sku, (quantities, status) in CATALOG.items():
            product = Product(sku=sku, name=sku, price_cents=100, status=status)
            for code, quantity in (quantities or {}).items():
                product.stocks.append(Inventory(location=find_location(db.session, code), quantity=quantity))
            db.session.add(product)
            if quantities:
                self.change({(sku, code): q for code, q in quantities.items()}, "initial_stock", None)
        db.session.commit()
        self.receiver = WebhookReceiver().start()
        add_endpoint(self.receiver)  # every event type
        # number -> {"status", "lines": [(sku, n)], "wanted": Counter, "committed", "taken": {(sku, code): n},
        #            "hold": expiry or None, "released"}
        self.orders = {}
        self.payments = {}  # payment_id -> number, of payments that paid their order
        self.notifications = 0
        self.clock = time_machine.travel(utcnow() + timedelta(days=1), tick=False)
        self.clock_now = self.clock.start()

    def teardown(self):
        self.receiver.stop()
        self.clock.stop()
        db.session.remove()
        self.ctx.pop()

    # -- what the model expects ----------------------------------------------------------

    def serving(self) -> list[str]:
        """The locations orders take from, in the order they try them: active, fulfilling, by (priority, code)."""
        places = [code for code, (_, fulfils, active) in self.locations.items() if fulfils and active]
        return sorted(places, key=lambda code: (self.locations[code][0], code))

    def on_hand(self, sku: str) -> int | None:
        """Units at the locations that serve orders; None when none of them has a row of the product."""
        rows = [self.stock[sku, code] for code in self.serving() if (sku, code) in self.stock]
        return sum(rows) if rows else None

    def can_take(self, wanted: Counter) -> bool:
        return bool(wanted) and all(
            self.product_status[sku] == "active"
            and (self.on_hand(sku) or 0) >= n
            and self.on_hand(sku) is not None
            for sku, n in wanted.items()
        )

    def allocate(self, lines: list) -> Counter:
        """The allocation rule, as the model knows it: the whole order from the first place that has all
        of it, else each line from the first place that has the line, else split in priority order."""
        places, wanted = self.serving(), Counter()
        for sku, n in lines:
            wanted[sku] += n
        for code in places:
            if all(self.stock.get((sku, code), 0) >= n for sku, n in wanted.items()):
                return Counter({(sku, code): n for sku, n in wanted.items()})
        left, taken = {key: n for key, n in self.stock.items()}, Counter()
        for sku, n in lines:
            whole = next((code for code in places if left.get((sku, code), 0) >= n), None)
            for code in [whole] if whole else places:
                units = min(n, left.get((sku, code), 0))
                if units:
                    left[sku, code] -= units
                    taken[sku, code] += units
                    n -= units
        return taken

    def now(self) -> datetime:
        return utcnow()

    def expired(self, order: dict) -> bool:
        return order["status"] == "confirmed" and order["hold"] is not None and order["hold"] < self.now()

    def change(self, deltas: dict, reason: str, number: str | None) -> None:
        """Stock moves by ``deltas`` ((sku, location) → units) in one change: the events it must record,
        ``stock.changed`` per row and, per product, low or out as its on-hand units crossed the line."""
        before = {sku: self.on_hand(sku) or 0 for sku, _ in deltas}
        for (sku, code), delta in deltas.items():
            after = self.stock[sku, code] = self.stock.get((sku, code), 0) + delta
            why = reason if reason != "transfer" else ("transfer_out" if delta < 0 else "transfer_in")
            self.expected[("stock.changed", sku, code, delta, after, why, number)] += 1
        for sku, was in before.items():
            now = self.on_hand(sku) or 0
            if was > 0 and now == 0:
                self.expected[("stock.out", sku)] += 1
            elif was > LOW_STOCK_THRESHOLD >= now > 0:
                self.expected[("stock.low", sku)] += 1

    def take(self, number: str, order: dict) -> None:
        order["taken"] = self.allocate(order["lines"])
        event(f"an order took stock at {len({code for _, code in order['taken']})} location(s)")
        self.change({key: -n for key, n in order["taken"].items()}, "order_placed", number)
        self.expected[("order.placed", number)] += 1

    def give_back(self, number: str, order: dict, reason: str) -> None:
        self.change(dict(order["taken"]), reason, number)
        self.expected[("order.cancelled", number, reason)] += 1

    def release(self, number: str) -> None:
        order = self.orders[number]
        self.give_back(number, order, "hold_expired")
        order.update(status="cancelled", released=True)

    def release_expired(self, skus=None) -> None:
        for number, order in self.orders.items():
            if self.expired(order) and (skus is None or set(order["wanted"]) & skus):
                self.release(number)

    def short_skus(self, lines) -> set:
        """The SKUs a refusal names as short of stock (``insufficient_stock``), as the stock rules judge."""
        requested = Counter()
        for sku, quantity in lines:
            if sku in CATALOG and quantity >= 1:
                requested[sku] += quantity
        return {
            sku
            for sku, n in requested.items()
            if self.on_hand(sku) is not None
            and self.product_status[sku] == "active"
            and self.on_hand(sku) < n
        }

    # -- rules -----------------------------------------------------------------------------

    @rule(
        lines=st.lists(st.tuples(LINE_SKUS, QUANTITIES), max_size=4),
        status=NEW_STATUSES,
        customer=st.booleans(),
    )
    def create_order(self, lines, status, customer):
        """A staff order, or a customer's checkout (a confirmed one is a hold; a short one releases expired holds)."""
        wanted = Counter()
        for sku, quantity in lines:
            wanted[sku] += quantity
        lines_ok = all(sku in CATALOG and quantity >= 1 for sku, quantity in lines)
        takes = status in orders.COMMITTING
        if customer and takes and not (lines_ok and self.can_take(wanted)):
            short = self.short_skus(lines)
            if any(self.expired(o) and set(o["wanted"]) & short for o in self.orders.values()):
                self.release_expired(short)  # the checkout releases them, then tries again
                event("a checkout released expired holds")
        expect_ok = lines_ok and (not takes or self.can_take(wanted))
        hold = hold_until() if customer and status == "confirmed" else None

        def place():
            return place_order(
                db.session,
                lines,
                status=status,
                customer_name="M",
                customer_email="m@example.com",
                hold_until=hold,
            )

        try:
            order = (commit_checkout if customer else commit_unit_of_work)(place, actor="model")
        except InventoryError:
            assert not expect_ok, f"refused an order the model accepts: {lines} {status}"
            return
        assert expect_ok, f"accepted an order the model refuses: {lines} {status}"
        self.orders[order.number] = {
            "status": status,
            "lines": list(lines),
            "wanted": wanted,
            "committed": takes,
            "taken": Counter(),
            "hold": hold,
            "released": False,
        }
        if takes:
            self.take(order.number, self.orders[order.number])
        if status == "paid":
            self.expected[("order.paid", order.number)] += 1

    @rule(sku=st.sampled_from(["A", "B", "C"]), quantity=st.integers(1, 4))
    def customer_checkout(self, sku, quantity):
        """A customer's one-line checkout: a hold, or a refusal that releases expired holds first."""
        self.create_order([(sku, quantity)], "confirmed", True)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), target_status=st.sampled_from(STATUSES))
    def change_status(self, data, target_status):
        number = data.draw(st.sampled_from(list(self.orders)))
        order = self.orders[number]
        allowed = target_status in orders.TRANSITIONS[order["status"]]
        takes = allowed and target_status in orders.COMMITTING and not order["committed"]
        returns = allowed and target_status == "cancelled" and order["committed"]
        same = target_status == order["status"]
        expect_ok = same or (allowed and (not takes or self.can_take(order["wanted"])))

        def work():
            db.session.scalar(select(Order).where(Order.number == number)).status = target_status
            db.session.flush()

        try:
            commit_unit_of_work(work, actor="model")
        except InventoryError:
            assert not expect_ok, f"refused {order['status']} -> {target_status}"
            return
        assert expect_ok, f"allowed {order['status']} -> {target_status}"
        if takes:
            self.take(number, order)
        if returns:
            self.give_back(number, order, "order_cancelled")
        if not same and target_status == "paid":
            self.expected[("order.paid", number)] += 1
        if not same and target_status in ("paid", "cancelled"):
            order["hold"] = None  # paid or cancelled by staff: no longer a hold
        order["status"] = target_status
        order["committed"] = order["committed"] or takes

    @rule(minutes=st.sampled_from([1, 5, 10, 14, 15, 16, 30]))
    def time_passes(self, minutes):
        self.clock_now.shift(timedelta(minutes=minutes))

    @rule()
    def sweep(self):
        released = release_expired_holds()
        before = sum(o["released"] for o in self.orders.values())
        self.release_expired()
        assert released.orders == sum(o["released"] for o in self.orders.values()) - before
        event(f"sweep released {'some' if released.orders else 'none'}")

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), replay=st.booleans())
    def pay(self, data, replay):
        if replay and self.payments:
            payment_id = data.draw(st.sampled_from(list(self.payments)))
            number = self.payments[payment_id]
        else:
            self.notifications += 1
            payment_id = f"pay-{self.notifications}"
            # Orders in the order they were made (their numbers are random): the same draws pick the same order.
            awaiting = [n for n, o in self.orders.items() if o["status"] == "confirmed"]
            number = data.draw(st.sampled_from(awaiting or list(self.orders)))
        order = self.orders[number]
        notice = PaymentNotice(payment_id, number, 100 * sum(order["wanted"].values()), "EUR")
        try:
            result = commit_unit_of_work(
                lambda: record_payment(db.session, notice, currency="EUR"), actor="model"
            )
        except PaymentRefused as exc:
            event(f"payment refused: {exc.code}")
            assert payment_id not in self.payments and not order["released"], exc.code
            assert order["status"] != "confirmed", f"refused to pay a confirmed order: {exc.code}"
            return
        event(f"payment: {result.outcome}")
        if payment_id in self.payments:
            assert result.outcome is Outcome.REPLAYED
        elif order["released"] or self.expired(order):
            assert result.outcome is Outcome.HOLD_EXPIRED
            if not order["released"]:
                self.release(number)
        else:
            assert result.outcome is Outcome.PAID and order["status"] == "confirmed"
            order.update(status="paid", hold=None)
            self.expected[("order.paid", number)] += 1
            self.payments[payment_id] = number

    @rule(
        sku=st.sampled_from(sorted(CATALOG)),
        delta=st.integers(-8, 8),
        reason=st.sampled_from(["restock", "adjustment"]),
        location=st.sampled_from([None, *LOCATIONS]),
    )
    def adjust(self, sku, delta, reason, location):
        """An adjustment at a location (None: the default one, main)."""
        code = location or "main"
        current = self.stock.get((sku, code), 0)
        expect_ok = delta != 0 and not (reason == "restock" and delta < 0) and current + delta >= 0
        try:
            commit_unit_of_work(
                lambda: stock.adjust_stock(
                    db.session,
                    db.session.scalar(select(Product).where(Product.sku == sku)),
                    delta,
                    reason,
                    location=location,
                ),
                actor="model",
            )
        except InventoryError:
            assert not expect_ok
            return
        assert expect_ok
        self.change({(sku, code): delta}, reason, None)

    @rule(
        sku=st.sampled_from(sorted(CATALOG)),
        places=st.permutations(list(LOCATIONS)),
        quantity=st.integers(0, 5),
    )
    def transfer(self, sku, places, quantity):
        """Units moved from one location to another: refused when the source is short."""
        source, target = places[0], places[1]
        expect_ok = quantity >= 1 and self.stock.get((sku, source), 0) >= quantity
        try:
            commit_unit_of_work(
                lambda: stock.transfer_stock(
                    db.session,
                    db.session.scalar(select(Product).where(Product.sku == sku)),
                    quantity,
                    source,
                    target,
                ),
                actor="model",
            )
        except InventoryError:
            assert not expect_ok, f"refused to move {quantity} {sku} {source} -> {target}"
            return
        assert expect_ok, f"moved {quantity} {sku} {source} -> {target}"
        event("a transfer moved stock")
        self.change({(sku, source): -quantity, (sku, target): quantity}, "transfer", None)

    @rule(code=st.sampled_from(["floor", "store"]), fulfils=st.booleans(), active=st.booleans())
    def set_location(self, code, fulfils, active):
        """A location opened or closed, or taken off orders (or put back on): no stock moves."""
        commit_unit_of_work(
            lambda: edit_location(
                db.session, find_location(db.session, code), fulfils_orders=fulfils, active=active
            ),
            actor="model",
        )
        self.locations[code][1:] = [fulfils, active]

    @rule(
        sku=st.sampled_from(sorted(CATALOG)),
        status=st.sampled_from(["active", "unavailable", "discontinued"]),
    )
    def set_product_status(self, sku, status):
        def work():
            db.session.scalar(select(Product).where(Product.sku == sku)).status = status

        commit_unit_of_work(work, actor="model")
        self.product_status[sku] = status

    @rule()
    def read_the_feed(self):
        """An integration pages through the feed from where it stopped: exactly the model's new events."""
        db.session.rollback()
        commit_unit_of_work(partial(feed.sequence, db.session), actor="model")
        new = []
        while True:
            page = feed.read(db.session, after=self.feed[-1] if self.feed else None, event_type=None, limit=7)
            new += page.events
            self.feed += [row.id for row in page.events]
            if not page.has_more:
                break
        db.session.rollback()
        assert Counter(event_key(row.type, json.loads(row.payload)) for row in new) == self.expected
        assert len(set(self.feed)) == len(self.feed)
        self.expected.clear()

    @rule()
    def deliver(self):
        """A worker does what is due (it sweeps holds too): every event so far reaches the endpoint once."""
        db.session.rollback()
        self.release_expired()
        Worker(self.app).run(once=True)
        sequenced = set(db.session.scalars(select(Event.id).where(Event.position.is_not(None))))
        db.session.rollback()
        received = Counter(receipt.webhook_id for receipt in self.receiver.receipts)
        assert set(received) == sequenced and set(received.values()) <= {1}
        assert all(receipt.verified for receipt in self.receiver.receipts)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def stock_matches_the_model_and_the_ledger(self):
        actual = {
            (sku, code): quantity
            for sku, code, quantity in db.session.execute(
                select(Product.sku, Location.code, Inventory.quantity)
                .join(Inventory, Inventory.product_id == Product.id)
                .join(Location, Location.id == Inventory.location_id)
            )
        }
        assert actual == self.stock
        assert min(actual.values()) >= 0
        assert ledger_mismatches() == []

    @invariant()
    def each_committed_order_is_allocated_as_the_model_places_it(self):
        rows = db.session.execute(
            select(Order.number, Product.sku, Location.code, func.sum(OrderItemAllocation.quantity))
            .join(OrderItem, OrderItem.id == OrderItemAllocation.order_item_id)
            .join(Order, Order.id == OrderItem.order_id)
            .join(Product, Product.id == OrderItem.product_id)
            .join(Location, Location.id == OrderItemAllocation.location_id)
            .group_by(Order.number, Product.sku, Location.code)
        )
        actual: dict = {}
        for number, sku, code, quantity in rows:
            actual.setdefault(number, Counter())[sku, code] = int(quantity)
        assert actual == {number: o["taken"] for number, o in self.orders.items() if o["committed"]}

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
            products = len(order["taken"]) if order["committed"] else 0  # (product, location) rows
            returned = products if order["committed"] and order["status"] == "cancelled" else 0
            assert moved.get((number, "order_placed"), 0) == products
            assert moved.get((number, "order_cancelled"), 0) == (0 if order["released"] else returned)
            assert moved.get((number, "hold_expired"), 0) == (returned if order["released"] else 0)

    @invariant()
    def statuses_match_the_model(self):
        actual = dict(db.session.execute(select(Order.number, Order.status)).all())
        assert actual == {number: order["status"] for number, order in self.orders.items()}


def event_key(event_type: str, data: dict) -> tuple:
    """What the model knows of an event."""
    if event_type == "stock.changed":
        return (
            event_type,
            data["sku"],
            data["location"],
            data["delta"],
            data["quantity_after"],
            data["reason"],
            data["order_number"],
        )
    if event_type in ("stock.low", "stock.out"):
        return (event_type, data["sku"])
    if event_type == "order.cancelled":
        return (event_type, data["order"]["number"], data["reason"])
    return (event_type, data["order"]["number"])


def test_the_shop_behaves_like_its_model(model_app):
    ShopMachine.app = model_app
    run_state_machine_as_test(
        ShopMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=50,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
