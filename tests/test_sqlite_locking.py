"""SQLite: units of work take the write lock at BEGIN; every other transaction reads beside them."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.models import Inventory, Product
from shop.orders import place_order
from shop.stock import adjust_stock
from tests.support.databases import make_app
from tests.support.factories import add_product


@pytest.fixture
def sqlite_shop(database_urls):
    for app in make_app(database_urls("sqlite")):
        with app.app_context():
            add_product(db.session, "TEA", 10)
        yield app


def holding_the_write_lock(app, started: threading.Event, release: threading.Event) -> threading.Thread:
    """A unit of work (a restock) that keeps its transaction open until ``release`` is set."""

    def work():
        adjust_stock(db.session, db.session.scalar(select(Product)), 5, "restock")
        started.set()
        assert release.wait(timeout=30)

    def run():
        with app.app_context():
            commit_unit_of_work(work, actor="writer")

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(timeout=10)
    return thread


def test_a_page_is_read_while_a_unit_of_work_holds_the_write_lock(sqlite_shop):
    started, release = threading.Event(), threading.Event()
    writer = holding_the_write_lock(sqlite_shop, started, release)
    try:
        page = sqlite_shop.test_client().get("/")  # would wait for the lock (30 s, then fail) if it took it
        assert page.status_code == 200 and "Product TEA" in page.text
        assert writer.is_alive()  # the writer still holds its transaction open
    finally:
        release.set()
        writer.join(timeout=30)
    with sqlite_shop.app_context():
        assert (
            db.session.scalar(select(Inventory.quantity)) == 15
        )  # the read saw the snapshot; the write landed


def test_a_second_unit_of_work_waits_for_the_first(sqlite_shop):
    started, release = threading.Event(), threading.Event()
    writer = holding_the_write_lock(sqlite_shop, started, release)
    placed = threading.Event()

    def checkout():
        with sqlite_shop.app_context():
            commit_unit_of_work(
                lambda: place_order(
                    db.session, [("TEA", 15)], status="confirmed", customer_name="A", customer_email="a@x.y"
                ),
                actor="customer",
            )
            placed.set()

    buyer = threading.Thread(target=checkout)
    buyer.start()
    assert not placed.wait(timeout=0.5)  # queued behind the restock's write lock
    release.set()
    writer.join(timeout=30)
    buyer.join(timeout=30)
    assert placed.is_set()  # it read the stock as restocked (15), under the lock
    with sqlite_shop.app_context():
        assert db.session.scalar(select(Inventory.quantity)) == 0


def test_a_unit_of_work_after_a_read_in_the_same_request_starts_a_writing_transaction(sqlite_shop):
    with sqlite_shop.app_context():
        product = db.session.scalar(select(Product))  # a read-only transaction begins
        commit_unit_of_work(lambda: adjust_stock(db.session, product, 1, "restock"), actor="staff")
        assert db.session.scalar(select(Inventory.quantity)) == 11
