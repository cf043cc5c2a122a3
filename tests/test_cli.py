"""Every ``flask`` command, its success path and its bad input: a clear message, an exit code, no change."""

import re

import pytest
from sqlalchemy import text

from shop.demo import DEMO_CATALOG
from shop.extensions import db
from shop.models import Order, Product, User
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, add_product, make_user
from tests.support.readers import count, counts, movements, stock_of


@pytest.fixture
def shop(session):
    add_product(session, "TEA", 10, price_cents=1250)
    add_product(session, "CUP", 3, price_cents=800)
    add_product(session, "OLD", 5, status="discontinued")
    return session


def invoke(runner, *args, **kwargs):
    return runner.invoke(args=list(args), **kwargs)


def number_in(output):
    return re.search(r"Order (\S+):", output).group(1)


def test_every_command_has_help(runner):
    for command in (
        ["seed-demo"],
        ["staff", "create"],
        ["staff", "set-password"],
        ["staff", "disable"],
        ["staff", "enable"],
        ["staff", "list"],
        ["api", "purge-keys"],
        ["inventory", "list"],
        ["inventory", "adjust"],
        ["inventory", "import"],
        ["inventory", "reconcile"],
        ["orders", "place"],
        ["orders", "set-status"],
        ["orders", "show"],
        ["catalog", "reindex"],
    ):
        result = invoke(runner, *command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_seed_demo_is_idempotent(runner, session):
    first, second = invoke(runner, "seed-demo"), invoke(runner, "seed-demo")
    assert first.exit_code == second.exit_code == 0
    assert f"{len(DEMO_CATALOG)} product(s) added" in first.output and "0 product(s) added" in second.output
    assert count(session, Product) == len(DEMO_CATALOG)
    statuses = {p.status for p in session.scalars(db.select(Product))}
    assert statuses == {"active", "unavailable", "discontinued"}
    assert invoke(runner, "inventory", "reconcile").exit_code == 0


def test_staff_create_prompts_for_a_password_and_hashes_it(runner, session):
    result = invoke(runner, "staff", "create", "Boss@Example.com", input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    user = session.scalar(db.select(User))
    assert user.email == "boss@example.com" and user.is_staff
    assert user.password_hash != "s3cret-pass" and user.check_password("s3cret-pass")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["not-an-email"], "s3cret-pass\ns3cret-pass\n", "is not an e-mail address"),
        (["a@example.com"], "short\nshort\n", "at least 8 characters"),
    ],
)
def test_staff_create_refuses_bad_input(runner, session, args, stdin, message):
    result = invoke(runner, "staff", "create", *args, input=stdin)
    assert result.exit_code != 0 and message in result.output
    assert count(session, User) == 0


def test_staff_create_refuses_a_duplicate(runner, session):
    invoke(runner, "staff", "create", "a@example.com", input="s3cret-pass\ns3cret-pass\n")
    result = invoke(runner, "staff", "create", "a@example.com", input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 1 and "already exists" in result.output


def test_inventory_list_shows_stock_and_low_flags(runner, shop):
    result = invoke(runner, "inventory", "list")
    assert result.exit_code == 0
    tea = next(line for line in result.output.splitlines() if line.startswith("TEA"))
    cup = next(line for line in result.output.splitlines() if line.startswith("CUP"))
    assert "10" in tea and "(low)" not in tea
    assert "3" in cup and "(low)" not in cup
    assert "discontinued" in result.output


def test_inventory_adjust_changes_stock_with_a_ledger_row(runner, shop):
    result = invoke(runner, "inventory", "adjust", "TEA", "5", "--reason", "restock", "--note", "delivery")
    assert result.exit_code == 0 and "now 15 on hand" in result.output
    result = invoke(runner, "inventory", "adjust", "TEA", "-4", "--reason", "adjustment")
    assert result.exit_code == 0 and "now 11 on hand" in result.output
    assert stock_of(shop, "TEA") == 11
    assert [(m.reason, m.delta, m.actor, m.note) for m in movements(shop, "TEA")][1:] == [
        ("restock", 5, "cli", "delivery"),
        ("adjustment", -4, "cli", None),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE", "5", "--reason", "restock"], "There is no product NOPE"),
        (["TEA", "0", "--reason", "adjustment"], "non-zero whole number"),
        (["TEA", "five", "--reason", "restock"], "'five' is not a valid integer"),
        (["TEA", "-11", "--reason", "adjustment"], "cannot remove 11, only 10 on hand"),
        (["TEA", "-1", "--reason", "restock"], "a restock adds stock"),
        (["TEA", "5", "--reason", "theft"], "'theft' is not one of"),
        (["TEA", "5"], "Missing option '--reason'"),
    ],
)
def test_inventory_adjust_refuses_bad_input(runner, shop, args, message):
    before = counts(shop)
    result = invoke(runner, "inventory", "adjust", *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert stock_of(shop, "TEA") == 10 and counts(shop) == before


def test_inventory_import_creates_and_updates_products(runner, shop, tmp_path):
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text(
        "sku,name,price_cents,quantity\nTEA,Green tea,1300,25\nNEW-1,New thing,499,7\n"
        "NEW-2,Not stocked yet,100,0\n",
        encoding="utf-8",
    )
    result = invoke(runner, "inventory", "import", str(csv_file))
    assert result.exit_code == 0, result.output
    assert "2 product(s) created, 1 updated" in result.output
    assert (stock_of(shop, "TEA"), stock_of(shop, "NEW-1"), stock_of(shop, "NEW-2")) == (25, 7, 0)
    tea = shop.scalar(db.select(Product).where(Product.sku == "TEA"))
    assert (tea.name, tea.price_cents) == ("Green tea", 1300)
    assert [(m.reason, m.delta, m.note) for m in movements(shop, "TEA")][-1] == (
        "adjustment",
        15,
        "import stock.csv",
    )
    assert invoke(runner, "inventory", "reconcile").exit_code == 0


def test_inventory_import_reports_every_bad_line_and_imports_nothing(runner, shop, tmp_path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "sku,name,price_cents,quantity\n"
        "GOOD,Fine,100,1\n"
        "BAD SKU,Spaces,100,1\n"
        "NEG,Negative,100,-4\n"
        "PRICE,Price,12.5,1\n"
        "GOOD,Duplicate,100,1\n"
        "SHORT,Too few columns\n"
        ",No sku,1,1\n",
        encoding="utf-8",
    )
    before = (counts(shop), count(shop, Product))
    result = invoke(runner, "inventory", "import", str(csv_file))
    assert result.exit_code == 1
    for line in (3, 4, 5, 6, 7, 8):
        assert f"line {line}:" in result.output
    assert "line 2:" not in result.output and "Nothing imported: 6 bad line(s)" in result.output
    assert (counts(shop), count(shop, Product)) == before


@pytest.mark.parametrize("content", [b"name,sku\nx,y\n", b"", b"\xff\xfe\x00bad"])
def test_inventory_import_refuses_a_malformed_file(runner, shop, tmp_path, content):
    csv_file = tmp_path / "malformed.csv"
    csv_file.write_bytes(content)
    result = invoke(runner, "inventory", "import", str(csv_file))
    assert result.exit_code == 1 and "Nothing imported" in result.output


def test_inventory_import_needs_an_existing_file(runner, shop):
    result = invoke(runner, "inventory", "import", "no-such-file.csv")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_inventory_reconcile_passes_after_a_workload_and_fails_after_tampering(runner, shop):
    first = number_in(invoke(runner, "orders", "place", "--item", "TEA:2", "--item", "CUP:1").output)
    invoke(runner, "orders", "place", "--item", "TEA:3", "--status", "paid")
    invoke(runner, "orders", "set-status", first, "cancelled")
    invoke(runner, "inventory", "adjust", "CUP", "4", "--reason", "restock")
    result = invoke(runner, "inventory", "reconcile")
    assert result.exit_code == 0 and "All 3 product(s) reconcile" in result.output

    shop.execute(
        text(
            "UPDATE inventory SET quantity = quantity + 2 WHERE product_id = "
            "(SELECT id FROM products WHERE sku = 'CUP')"
        )
    )
    shop.commit()
    result = invoke(runner, "inventory", "reconcile")
    assert result.exit_code == 1
    assert "CUP: 9 on hand, ledger sums to 7 (+2)" in result.output
    assert "1 product(s) do not reconcile" in result.output


def test_orders_place_takes_stock_and_prints_the_order(runner, shop):
    result = invoke(
        runner,
        "orders",
        "place",
        "--item",
        "TEA:2",
        "--item",
        "CUP:1",
        "--item",
        "TEA:1",
        "--customer",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
    )
    assert result.exit_code == 0, result.output
    assert ": confirmed" in result.output and "Total: 45.50" in result.output
    assert (stock_of(shop, "TEA"), stock_of(shop, "CUP")) == (7, 2)
    assert all(m.actor == "cli" for m in movements(shop, reason="order_placed"))


def test_orders_place_as_draft_takes_nothing(runner, shop):
    result = invoke(runner, "orders", "place", "--item", "TEA:2", "--status", "draft")
    assert result.exit_code == 0 and ": draft" in result.output
    assert stock_of(shop, "TEA") == 10


@pytest.mark.parametrize(
    ("items", "extra", "message"),
    [
        (["NOPE:1"], [], "There is no product NOPE"),
        (["TEA:0"], [], "quantity must be 1 to"),
        (["TEA:-2"], [], "quantity must be 1 to"),
        (["TEA:two"], [], "is not SKU:QUANTITY"),
        (["TEA"], [], "is not SKU:QUANTITY"),
        (["TEA:1"], ["--status", "shipped"], "'shipped' is not one of"),
        (["TEA:1"], ["--email", "nobody"], "valid customer e-mail"),
        (["CUP:4"], [], "CUP: 4 requested, only 3 available"),
        (["OLD:1"], [], "OLD is discontinued"),
    ],
)
def test_orders_place_refuses_bad_input(runner, shop, items, extra, message):
    before = counts(shop)
    args = [arg for item in items for arg in ("--item", item)] + extra
    result = invoke(runner, "orders", "place", *args)
    assert result.exit_code != 0 and message in result.output, result.output
    assert counts(shop) == before and stock_of(shop, "TEA") == 10


def test_orders_place_lists_every_problem(runner, shop):
    result = invoke(runner, "orders", "place", "--item", "CUP:9", "--item", "OLD:1", "--item", "NOPE:2")
    assert result.exit_code == 1
    for message in ("CUP: 9 requested, only 3 available", "OLD is discontinued", "There is no product NOPE"):
        assert message in result.output


def test_orders_set_status_moves_an_order_and_returns_stock_on_cancel(runner, shop):
    number = number_in(invoke(runner, "orders", "place", "--item", "TEA:4").output)
    assert invoke(runner, "orders", "set-status", number, "paid").exit_code == 0
    assert stock_of(shop, "TEA") == 6
    result = invoke(runner, "orders", "set-status", number.lower(), "cancelled")
    assert result.exit_code == 0 and "is now cancelled" in result.output
    assert stock_of(shop, "TEA") == 10


@pytest.mark.parametrize(
    ("target", "message"), [("draft", "cannot go from confirmed to draft"), ("gone", "'gone' is not one of")]
)
def test_orders_set_status_refuses_bad_transitions(runner, shop, target, message):
    number = number_in(invoke(runner, "orders", "place", "--item", "TEA:4").output)
    result = invoke(runner, "orders", "set-status", number, target)
    assert result.exit_code != 0 and message in result.output
    assert shop.scalar(db.select(Order.status)) == "confirmed" and stock_of(shop, "TEA") == 6


def test_orders_set_status_refuses_an_unknown_order(runner, shop):
    result = invoke(runner, "orders", "set-status", "NOPE-NOPE", "paid")
    assert result.exit_code == 1 and "There is no order NOPE-NOPE" in result.output


def test_orders_show_prints_lines_and_totals(runner, shop):
    number = number_in(invoke(runner, "orders", "place", "--item", "TEA:2", "--status", "paid").output)
    result = invoke(runner, "orders", "show", number)
    assert result.exit_code == 0
    assert (
        f"Order {number}: paid" in result.output
        and "TEA" in result.output
        and "Total: 25.00" in result.output
    )
    missing = invoke(runner, "orders", "show", "XXXX")
    assert missing.exit_code == 1 and "There is no order XXXX" in missing.output


# -- staff accounts: passwords only at the prompt, disable / enable, list ---------------------------


@pytest.mark.parametrize("command", [["set-password"], ["create"]])
def test_a_password_on_the_command_line_is_refused(runner, session, command):
    make_user(session)
    before = session.scalar(db.select(User.password_hash))
    session.rollback()
    result = invoke(runner, "staff", *command, STAFF_EMAIL, "--password", "in-the-shell-history")
    assert result.exit_code == 2
    assert "Passwords are never taken as an argument" in result.output
    assert "in-the-shell-history" not in result.output
    assert session.scalar(db.select(User.password_hash)) == before and count(session, User) == 1


def test_staff_set_password_prompts_and_stores_an_argon2id_hash(runner, session):
    make_user(session)
    session.rollback()
    result = invoke(runner, "staff", "set-password", STAFF_EMAIL, input="a-new-password\na-new-password\n")
    assert result.exit_code == 0, result.output
    session.expire_all()
    user = session.scalar(db.select(User))
    assert user.password_hash.startswith("$argon2id$") and user.check_password("a-new-password")
    assert not user.check_password(STAFF_PASSWORD)


@pytest.mark.parametrize(
    ("email", "stdin", "message"),
    [
        ("nobody@example.com", "a-new-password\na-new-password\n", "There is no user nobody@example.com"),
        (STAFF_EMAIL, "short\nshort\n", "at least 8 characters"),
    ],
)
def test_staff_set_password_refuses_bad_input(runner, session, email, stdin, message):
    make_user(session)
    before = session.scalar(db.select(User.password_hash))
    session.rollback()
    result = invoke(runner, "staff", "set-password", email, input=stdin)
    assert result.exit_code != 0 and message in result.output
    assert session.scalar(db.select(User.password_hash)) == before


def test_staff_list_shows_every_account_and_whether_it_is_disabled(runner, session):
    make_user(session)
    make_user(session, "customer@example.com", "long enough", is_staff=False)
    session.rollback()
    assert invoke(runner, "staff", "disable", "customer@example.com").exit_code == 0
    result = invoke(runner, "staff", "list")
    assert result.exit_code == 0, result.output
    staff, customer = (
        next(line for line in result.output.splitlines() if line.startswith(email))
        for email in (STAFF_EMAIL, "customer@example.com")
    )
    assert "yes" in staff and "active" in staff
    assert "no" in customer and "disabled" in customer
    assert "$argon2" not in result.output


def test_disable_and_enable_name_an_existing_account(runner, session):
    for command in ("disable", "enable"):
        result = invoke(runner, "staff", command, "nobody@example.com")
        assert result.exit_code == 1 and "There is no user nobody@example.com" in result.output
