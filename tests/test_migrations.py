"""Every revision goes down and up again on every database, leaves nothing behind and keeps the shop's rows.

Through Flask-Migrate's ``upgrade`` and ``downgrade``, as ``flask db upgrade`` / ``downgrade`` run them,
from an empty database (``unmigrated_app``). The revisions are read from migrations/versions, so a new
one is covered as soon as it exists. tests/test_migration_security.py has what 0005 does to its rows.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade

from shop import stock
from shop.api.models import IdempotencyKey
from shop.extensions import db
from shop.hoarding import CustomerLimits, place_customer_order
from shop.holds import hold_until, release_expired_holds
from shop.models import Payment
from shop.orders import change_status, place_order
from shop.outbox import feed
from shop.outbox.webhooks import add_endpoint
from shop.outbox.worker import note_seen
from shop.search import catalog_page
from tests.support.factories import add_product, make_staff, place_hold
from tests.support.schema import model_differences, schema_of

Rows = dict[str, list[dict[str, Any]]]


def revisions() -> list[str]:
    """The ids of the project's revisions, oldest first."""
    config = current_app.extensions["migrate"].migrate.get_config()
    return [
        script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))
    ]


def steps_down() -> list[tuple[str, str]]:
    """(revision, the one below it or "base") for every revision, head first."""
    return [(revision, below) for below, revision in reversed(list(pairwise(["base", *revisions()])))]


def current_schema() -> dict[str, Any]:
    with db.engine.connect() as connection:
        return schema_of(connection)


def current_differences() -> list:
    with db.engine.connect() as connection:
        return model_differences(connection)


def test_every_revision_goes_down_to_the_schema_below_it_and_up_again_to_the_models(unmigrated_app):
    empty = current_schema()
    built = {}
    for revision in revisions():
        upgrade(revision=revision)
        built[revision] = current_schema()
    assert current_differences() == []
    for revision, below in steps_down():
        downgrade(revision=below)
        if below != "base":
            assert current_schema() == built[below], f"{revision} went down to another {below}"
    at_base = current_schema()
    assert {name: part for name, part in at_base.items() if name != "alembic_version"} == empty
    upgrade()
    assert current_differences() == []
    assert current_schema() == built[revisions()[-1]]


def test_each_revision_goes_down_and_up_again_to_the_same_schema(unmigrated_app):
    upgrade()
    for revision, below in steps_down():
        before = current_schema()
        downgrade(revision=below)
        upgrade(revision=revision)
        assert current_schema() == before, f"{revision} down and up again"
        downgrade(revision=below)


# -- with rows in the tables ---------------------------------------------------------------------


@pytest.fixture
def shop_at_head(unmigrated_app, time_machine):
    """The migrated shop holding a row in every table, written the way the shop writes them.

    At whole seconds: MariaDB's timestamps have none below 0003, which keeps no microseconds.
    """
    time_machine.move_to(datetime(2026, 3, 2, 10, 0, 0), tick=False)
    upgrade()
    session = db.session
    session.info["actor"] = "test"
    tea, cup, mug = (add_product(session, sku, 20) for sku in ("TEA-SENCHA", "CUP-STONE", "MUG"))
    mug.max_per_order = 3
    user, _ = make_staff(session)
    paid = place_order(
        session, [("TEA-SENCHA", 2)], status="paid", customer_name="Ada", customer_email="a@b.c"
    )
    session.add(Payment(payment_id="pay-1", order=paid, amount_cents=2000, currency="EUR", outcome="paid"))
    session.add(IdempotencyKey(caller=f"token:{user.id}", key="k-1", request_hash="0" * 64, order=paid))
    cancelled = place_order(
        session, [("CUP-STONE", 2)], status="confirmed", customer_name="B", customer_email="b@c.d"
    )
    change_status(session, cancelled, "cancelled", actor="test")
    place_order(session, [("MUG", 1)], status="draft", customer_name="C", customer_email="c@d.e")
    stock.adjust_stock(session, cup, 5, "restock", "delivery 42")
    session.commit()
    place_hold(session, ("MUG", 2))
    released = release_expired_holds(now=datetime(2026, 3, 2, 11, 0, 0))
    live = CustomerLimits("203.0.113.7", max_per_order=10, max_held_units=20)  # a live one, of a client
    place_customer_order(
        session,
        [("TEA-SENCHA", 1)],
        limits=live,
        status="confirmed",
        customer_name="D",
        customer_email="d@e.f",
        hold_until=hold_until(),
    )
    add_endpoint(session, "https://93.184.216.34/hooks", ["order.placed"], "ERP", allow_private=False)
    session.commit()
    feed.sequence(session)  # the events join the feed: deliveries to the endpoint and the customers
    session.commit()
    note_seen()
    session.remove()
    assert released.orders == 1 and all(rows_of_every_table().values())
    return unmigrated_app


def rows_of_every_table() -> Rows:
    """Every row of every table but alembic_version, as stored (no type conversion), in key order."""
    rows: Rows = {}
    with db.engine.connect() as connection:
        inspector = sa.inspect(connection)
        for name in set(inspector.get_table_names()) - {"alembic_version"}:
            table = sa.table(name, *(sa.column(c["name"]) for c in inspector.get_columns(name)))
            key = [table.c[column] for column in inspector.get_pk_constraint(name)["constrained_columns"]]
            rows[name] = [dict(row) for row in connection.execute(sa.select(table).order_by(*key)).mappings()]
    return rows


def columns_of_every_table() -> dict[str, list[str]]:
    with db.engine.connect() as connection:
        inspector = sa.inspect(connection)
        return {
            name: [c["name"] for c in inspector.get_columns(name)]
            for name in set(inspector.get_table_names()) - {"alembic_version"}
        }


def kept(rows: Rows, columns: dict[str, list[str]]) -> Rows:
    """``rows`` in the tables and columns given."""
    return {table: [{c: row[c] for c in names} for row in rows[table]] for table, names in columns.items()}


# Tables the latest revision makes and fills from the rows below it: 0010 makes none (0009 created
# location main and allocated every line of an order that took stock there).
REBUILT_BY_THE_LATEST: set[str] = set()


def below_0010(rows: Rows) -> Rows:
    """``rows`` as 0010 leaves them going down: without the e-mails' lock rows of ``hold_clients``."""
    clients = [row for row in rows["hold_clients"] if not row["client"].startswith("email:")]
    return rows | {"hold_clients": clients}


def test_the_latest_revision_goes_down_and_up_again_keeping_every_row_below_it(shop_at_head):
    """Every row the revision below can hold comes back; the tables the latest one makes come back as it
    rebuilds them, or empty."""
    before = rows_of_every_table()
    (latest, below), *_ = steps_down()
    downgrade(revision=below)
    columns = columns_of_every_table()
    upgrade(revision=latest)
    after = rows_of_every_table()
    assert kept(after, columns) == kept(below_0010(before), columns)
    for table in set(after) - set(columns):
        assert after[table] == (before[table] if table in REBUILT_BY_THE_LATEST else []), table
    assert [p.sku for p in catalog_page(db.session, "sencha", 1, 24).items] == ["TEA-SENCHA"]


def test_every_downgrade_keeps_the_rows_the_revision_below_can_hold(shop_at_head):
    rows = rows_of_every_table()
    assert {r["reason"] for r in rows["inventory_movements"]} >= {"hold_expired", "order_cancelled"}
    assert any(r["client"].startswith("email:") for r in rows["hold_clients"])
    for revision, below in steps_down()[:-1]:  # below the first revision there are no tables
        downgrade(revision=below)
        if revision == "0010":  # the e-mails' lock rows go (the shop makes them again)
            rows = below_0010(rows)
        if revision == "0004":  # no hold_expired before it: a cancelled order's stock came back as
            for row in rows["inventory_movements"]:  # order_cancelled, and so does a released hold's
                row["reason"] = row["reason"].replace("hold_expired", "order_cancelled")
        assert rows_of_every_table() == kept(rows, columns_of_every_table()), f"{revision} down to {below}"
    first = columns_of_every_table()
    upgrade()
    assert kept(rows_of_every_table(), first) == kept(rows, first)
    assert current_app.test_cli_runner().invoke(args=["inventory", "reconcile"]).exit_code == 0
