"""The feed: every committed event exactly once, in feed order, even when transactions commit out of order."""

from __future__ import annotations

import json
from functools import partial

import pytest
from sqlalchemy import insert, select

from shop.database import commit_unit_of_work
from shop.extensions import db
from shop.models import utcnow
from shop.outbox import Event, EventDelivery
from shop.outbox.feed import UnknownEvent, read, sequence
from shop.outbox.recorder import event_row
from tests.support.factories import add_product
from tests.support.outbox import place


def page(after=None, event_type=None, limit=50):
    commit_unit_of_work(partial(sequence, db.session), actor="test")
    result = read(db.session, after=after, event_type=event_type, limit=limit)
    db.session.rollback()
    return result


def read_all(limit: int = 3) -> list[str]:
    """Every event id of the feed, read page by page as an integration would."""
    ids, after = [], None
    while True:
        result = page(after, limit=limit)
        ids += [row.id for row in result.events]
        if not result.has_more:
            return ids
        after = ids[-1]


def test_the_feed_pages_through_every_event_once_in_order(session):
    add_product(session, "TEA", 10)
    for _ in range(4):
        place(lines=[("TEA", 1)])
    ids = read_all(limit=3)
    session.rollback()
    assert ids == list(session.scalars(select(Event.id).order_by(Event.position)))
    assert len(ids) == len(set(ids)) == 1 + 4 * 2  # initial stock; each order: placed + stock.changed
    positions = list(session.scalars(select(Event.position).order_by(Event.position)))
    assert positions == list(range(positions[0], positions[0] + len(ids)))

    place(lines=[("TEA", 1)])
    newer = page(after=ids[-1])
    assert [row.type for row in newer.events] == ["order.placed", "stock.changed"] and not newer.has_more


def test_the_feed_filters_by_type_and_limits(session):
    add_product(session, "TEA", 10)
    for _ in range(3):
        place(lines=[("TEA", 1)])
    first = page(event_type="order.placed", limit=2)
    assert [row.type for row in first.events] == ["order.placed"] * 2 and first.has_more
    rest = page(after=first.events[-1].id, event_type="order.placed", limit=2)
    assert len(rest.events) == 1 and not rest.has_more
    data = json.loads(rest.events[0].payload)
    assert data["order"]["status"] == "confirmed"


def test_an_unknown_cursor_is_refused(session):
    with pytest.raises(UnknownEvent):
        page(after="evt_01ARZ3NDEKTSV4RRFFQ69G5FAV")


def test_a_transaction_that_commits_later_joins_the_feed_later_and_is_not_skipped(server_app, receiver):
    """Transaction A draws the lower event id but commits after B; a reader who paged past B sees A."""
    with server_app.app_context():
        engine = db.engine
        early = event_row("stock.changed", "A", '{"sku":"A"}', utcnow())  # drawn first
        late = event_row("stock.changed", "B", '{"sku":"B"}', utcnow())
        assert early["id"] < late["id"]
        with engine.connect() as a, engine.connect() as b:
            a.begin()
            a.execute(insert(Event), [early])  # not committed yet
            b.begin()
            b.execute(insert(Event), [late])
            b.commit()
            seen = read_all()
            assert seen == [late["id"]]
            a.commit()
        seen += [row.id for row in page(after=seen[-1]).events]
        assert seen == [late["id"], early["id"]]
        assert read_all() == seen


def test_each_event_is_fanned_out_once_to_the_endpoints_that_want_it(session, receiver):
    from tests.support.outbox import add_endpoint

    add_product(session, "TEA", 10)
    wants_orders = add_endpoint(receiver, "order.placed")
    wants_all = add_endpoint(receiver)
    place()
    page()
    page()  # a second sequencing adds nothing
    session.rollback()
    rows = session.execute(
        select(Event.type, EventDelivery.endpoint_id, EventDelivery.email)
        .join(EventDelivery)
        .order_by(EventDelivery.id)
    ).all()
    assert sorted(rows, key=str) == sorted(
        [
            ("stock.changed", wants_all, None),  # the initial stock
            ("order.placed", wants_orders, None),
            ("order.placed", wants_all, None),
            ("order.placed", None, "ada@example.com"),
            ("stock.changed", wants_all, None),
        ],
        key=str,
    )
