"""The commands of stock in several places: locations, transfers, adjustments and imports at a location,
reconcile per location, pick lists, and where an order's lines were taken. Bad input: a clear message,
a non-zero exit, nothing changed."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from shop.demo import DEMO_CATALOG
from shop.extensions import db
from shop.models import InventoryMovement, Location
from tests.support.factories import add_place, add_product
from tests.support.readers import counts, movements, stock_by_location


@pytest.fixture
def shop(session):
    add_place(session, "floor", priority=1)
    add_product(session, "TEA", at={"main": 6, "floor": 4}, price_cents=1250)
    add_product(session, "CUP", at={"main": 3}, price_cents=800)
    return session


def invoke(runner, *args, **kwargs):
    return runner.invoke(args=list(args), **kwargs)


def places(session) -> list[tuple]:
    session.rollback()
    return session.execute(
        select(
            Location.code, Location.name, Location.priority, Location.fulfils_orders, Location.active
        ).order_by(Location.code)
    ).all()


# -- flask locations ---------------------------------------------------------------------------


def test_locations_add_list_and_edit(runner, session):
    result = invoke(runner, "locations", "add", "floor", "--name", "Shop floor", "--priority", "1")
    assert result.exit_code == 0, result.output
    assert "Location floor added: Shop floor, priority 1, fulfils orders, active." in result.output
    assert invoke(runner, "locations", "add", "drop", "--name", "Drop-ship", "--no-fulfil").exit_code == 0
    result = invoke(runner, "locations", "edit", "floor", "--priority", "5", "--no-active", "--name", "Floor")
    assert (
        result.exit_code == 0
        and "Location floor: Floor, priority 5, fulfils orders, inactive." in result.output
    )
    assert places(session) == [
        ("drop", "Drop-ship", 0, False, True),
        ("floor", "Floor", 5, True, False),
        ("main", "Main", 0, True, True),
    ]
    listed = invoke(runner, "locations", "list").output.splitlines()
    assert [line.split()[0] for line in listed[1:]] == ["drop", "main", "floor"]  # by priority, then code
    assert "(default)" in next(line for line in listed if line.startswith("main"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "main", "--name", "Again"], "There is already a location main"),
        (["add", "bad code", "--name", "X"], "must be 1-32 letters"),
        (["add", "ok", "--name", "   "], "The name must be 1-200 characters"),
        (["add", "ok", "--name", "X", "--priority", "9999999"], "The priority must be a whole number"),
        (["add", "ok"], "Missing option '--name'"),
        (["edit", "nowhere", "--name", "X"], "There is no location nowhere"),
        (["edit", "main"], "Say what to change"),
        (["edit", "main", "--priority", "two"], "'two' is not a valid integer"),
    ],
)
def test_locations_refuse_bad_input(runner, session, args, message):
    before = places(session)
    result = invoke(runner, "locations", *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert places(session) == before


# -- transfers, adjustments and imports at a location -------------------------------------------


def test_inventory_transfer_moves_units_with_two_ledger_rows_sharing_an_id(runner, shop):
    result = invoke(
        runner, "inventory", "transfer", "TEA", "5", "--from", "main", "--to", "floor", "--note", "shelf"
    )
    assert result.exit_code == 0, result.output
    assert "TEA: moved 5 from main (now 1) to floor (now 9); transfer trf_" in result.output
    assert stock_by_location(shop, "TEA") == {"main": 1, "floor": 9}
    out, into = movements(shop, "TEA")[-2:]
    assert (out.reason, out.delta, out.quantity_after, into.reason, into.delta, into.quantity_after) == (
        "transfer_out",
        -5,
        1,
        "transfer_in",
        5,
        9,
    )
    assert out.transfer_id == into.transfer_id and out.transfer_id.startswith("trf_")
    assert (out.note, out.actor) == ("shelf", "cli")
    assert invoke(runner, "inventory", "reconcile").exit_code == 0


def test_a_transfer_to_a_place_without_the_product_makes_its_row(runner, shop):
    assert (
        invoke(runner, "inventory", "transfer", "CUP", "2", "--from", "main", "--to", "floor").exit_code == 0
    )
    assert stock_by_location(shop, "CUP") == {"main": 1, "floor": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["TEA", "7", "--from", "main", "--to", "floor"], "TEA: 7 to move, only 6 at main."),
        (["TEA", "1", "--from", "main", "--to", "main"], "a transfer goes from one location to another"),
        (["TEA", "0", "--from", "main", "--to", "floor"], "must be a whole number from 1 to"),
        (["TEA", "1", "--from", "attic", "--to", "cellar"], "There is no location attic"),
        (["NOPE", "1", "--from", "main", "--to", "floor"], "There is no product NOPE"),
        (["TEA", "1", "--from", "main"], "Missing option '--to'"),
    ],
)
def test_inventory_transfer_refuses_bad_input(runner, shop, args, message):
    before = counts(shop), stock_by_location(shop, "TEA")
    result = invoke(runner, "inventory", "transfer", *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert (counts(shop), stock_by_location(shop, "TEA")) == before


def test_inventory_adjust_at_a_location(runner, shop):
    result = invoke(
        runner, "inventory", "adjust", "TEA", "-4", "--reason", "adjustment", "--location", "floor"
    )
    assert result.exit_code == 0 and "TEA: -4 (adjustment), now 0 on hand at floor." in result.output
    assert invoke(runner, "inventory", "adjust", "CUP", "2", "--reason", "restock").exit_code == 0  # at main
    assert stock_by_location(shop, "TEA") == {"main": 6, "floor": 0}
    assert stock_by_location(shop, "CUP") == {"main": 5}
    result = invoke(
        runner, "inventory", "adjust", "TEA", "-1", "--reason", "adjustment", "--location", "floor"
    )
    assert result.exit_code == 1 and "cannot remove 1, only 0 on hand at floor" in result.output
    result = invoke(runner, "inventory", "adjust", "TEA", "1", "--reason", "restock", "--location", "attic")
    assert result.exit_code == 1 and "There is no location attic" in result.output
    assert stock_by_location(shop, "TEA") == {"main": 6, "floor": 0}


def test_inventory_import_sets_the_stock_at_each_rows_location(runner, shop, tmp_path):
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text(
        "sku,name,price_cents,quantity,location\n"
        "TEA,Green tea,1300,2,floor\n"
        "TEA,Green tea,1300,8,\n"  # no location: the default one
        "NEW,New thing,500,3,floor\n"
        "NEW,New thing,500,1,main\n",
        encoding="utf-8",
    )
    result = invoke(runner, "inventory", "import", str(csv_file))
    assert result.exit_code == 0, result.output
    assert "1 product(s) created, 1 updated" in result.output
    assert stock_by_location(shop, "TEA") == {"main": 8, "floor": 2}
    assert stock_by_location(shop, "NEW") == {"main": 1, "floor": 3}
    assert invoke(runner, "inventory", "reconcile").exit_code == 0


def test_inventory_import_names_an_unknown_location_and_imports_nothing(runner, shop, tmp_path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "sku,name,price_cents,quantity,location\nTEA,Tea,100,1,attic\nTEA,Tea,100,1,floor\nTEA,Tea,100,2,floor\n",
        encoding="utf-8",
    )
    before = counts(shop), stock_by_location(shop, "TEA")
    result = invoke(runner, "inventory", "import", str(csv_file))
    assert result.exit_code == 1
    assert "line 2: there is no location attic." in result.output
    assert "line 4: SKU TEA at floor is already on line 3." in result.output
    assert (counts(shop), stock_by_location(shop, "TEA")) == before


def test_reconcile_checks_every_location_of_a_product(runner, shop):
    assert (
        "All 2 product(s) reconcile with the ledger at every location."
        in invoke(runner, "inventory", "reconcile").output
    )
    shop.execute(
        text(
            "UPDATE inventory SET quantity = quantity + 1 WHERE location_id = (SELECT id FROM locations WHERE "
            "code = 'floor')"
        )
    )
    shop.execute(
        text(
            "UPDATE inventory SET quantity = quantity - 1 WHERE location_id = (SELECT id FROM locations WHERE "
            "code = 'main') AND product_id = (SELECT id FROM products WHERE sku = 'TEA')"
        )
    )
    shop.commit()  # TEA's total is the same: only a check per location finds it
    result = invoke(runner, "inventory", "reconcile")
    assert result.exit_code == 1
    assert "TEA: 5 on hand, ledger sums to 6 (-1) at main." in result.output
    assert "TEA: 5 on hand, ledger sums to 4 (+1) at floor." in result.output
    assert "1 product(s) do not reconcile with the ledger (2 location row(s))." in result.output


def test_inventory_list_shows_the_stock_at_each_location(runner, shop):
    result = invoke(runner, "inventory", "list")
    tea = next(line for line in result.output.splitlines() if line.startswith("TEA"))
    assert " 10  " in tea and tea.endswith("main:6 floor:4")


# -- orders: where their lines were taken, and what to pick ---------------------------------------


def number_in(output):
    return output.split("Order ", 1)[1].split(":", 1)[0]


def test_orders_show_says_where_each_line_was_taken(runner, shop):
    result = invoke(runner, "orders", "place", "--item", "TEA:8", "--item", "CUP:1", "--status", "paid")
    assert result.exit_code == 0, result.output
    assert "taken: 6 at main, 2 at floor" in result.output and "taken: 1 at main" in result.output
    shown = invoke(runner, "orders", "show", number_in(result.output)).output
    assert "taken: 6 at main, 2 at floor" in shown


def test_the_pick_list_names_what_paid_orders_took_at_a_location(runner, shop):
    first = number_in(invoke(runner, "orders", "place", "--item", "TEA:8", "--status", "paid").output)
    # main has no TEA left and the floor no CUP: TEA from the floor, CUP from main
    second = number_in(
        invoke(runner, "orders", "place", "--item", "TEA:1", "--item", "CUP:2", "--status", "paid").output
    )
    invoke(runner, "orders", "place", "--item", "CUP:1")  # confirmed, not paid: nothing to pick yet
    floor = invoke(runner, "orders", "picklist", "--location", "floor")
    assert floor.exit_code == 0, floor.output
    assert floor.output.splitlines() == [
        "Pick list for floor (Location floor): 2 paid order(s)",
        f"  {first}  TEA                  2  Product TEA",
        f"  {second}  TEA                  1  Product TEA",
        "Total per SKU:",
        "  TEA                  3",
    ]
    main = invoke(runner, "orders", "picklist", "--location", "main").output.splitlines()
    assert main[1:] == [
        f"  {first}  TEA                  6  Product TEA",
        f"  {second}  CUP                  2  Product CUP",
        "Total per SKU:",
        "  CUP                  2",
        "  TEA                  6",
    ]
    for number in (first, second):
        assert invoke(runner, "orders", "set-status", number, "cancelled").exit_code == 0
    assert "Nothing to pick at floor" in invoke(runner, "orders", "picklist", "--location", "floor").output


def test_the_pick_list_needs_a_known_location(runner, shop):
    result = invoke(runner, "orders", "picklist", "--location", "attic")
    assert result.exit_code == 1 and "There is no location attic" in result.output


def test_the_demo_keeps_stock_in_a_warehouse_and_on_a_shop_floor(runner, session):
    assert invoke(runner, "seed-demo").exit_code == 0
    assert places(session) == [("floor", "Shop floor", 1, True, True), ("main", "Warehouse", 0, True, True)]
    assert stock_by_location(session, "TEA-SENCHA") == {"main": 30, "floor": 10}
    split = [sku for sku, _, _, quantities, _ in DEMO_CATALOG if quantities and all(quantities)]
    assert len(split) >= 3
    assert session.scalar(select(InventoryMovement.id).limit(1)) is not None
    assert invoke(runner, "inventory", "reconcile").exit_code == 0
    assert invoke(runner, "seed-demo").exit_code == 0  # again: nothing changes
    assert stock_by_location(session, "TEA-SENCHA") == {"main": 30, "floor": 10}
    assert db.session is not None
