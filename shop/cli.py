"""``flask`` commands for operators. Each parses its input, calls the services and commits once."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload, undefer

from . import locations, products, search, stock
from .database import commit_unit_of_work
from .demo import seed_demo_catalog
from .errors import InventoryError
from .extensions import db
from .holds import HoldState, hold_state, release_expired_holds
from .models import (
    Inventory,
    InventoryMovement,
    Location,
    MovementReason,
    Order,
    OrderItem,
    OrderItemAllocation,
    OrderStatus,
    Product,
    User,
    utcnow,
)
from .orders import change_status, find_order, place_order

CLI_ACTOR = "cli"


def _refused(exc: InventoryError) -> click.ClickException:
    return click.ClickException("refused:\n" + "\n".join(f"  - {p.message}" for p in exc.problems))


def _product(sku: str) -> Product:
    product = products.find_product(db.session, sku)
    if product is None:
        raise click.ClickException(f"There is no product {sku}.")
    return product


def _order(number: str) -> Order:
    order = find_order(db.session, number)
    if order is None:
        raise click.ClickException(f"There is no order {number}.")
    return order


def _money(cents: int) -> str:
    return f"{cents / 100:.2f}"


# -- seed-demo -------------------------------------------------------------------------


@click.command("seed-demo")
def seed_demo_command():
    """Add the demo catalog (idempotent: existing SKUs are left alone)."""
    added = commit_unit_of_work(lambda: seed_demo_catalog(db.session), actor="seed")
    click.echo(f"Demo catalog ready: {added} product(s) added.")


# -- staff -----------------------------------------------------------------------------

staff_cli = AppGroup("staff", help="Staff accounts for the dashboard.")

MIN_PASSWORD_LENGTH = 8
PASSWORD_ARGUMENT_REFUSED = (
    "Passwords are never taken as an argument (it would stay in the shell history and show in the "
    "process list): leave out --password and type it at the prompt."
)


def _refuse_password_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise click.UsageError(PASSWORD_ARGUMENT_REFUSED, ctx=ctx)


# Accepted only to be refused with a clear message, instead of click's "No such option".
password_argument = click.option(
    "--password", hidden=True, expose_value=False, is_eager=True, callback=_refuse_password_argument
)


def _prompt_password(what: str) -> str:
    password = click.prompt(what, hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"use at least {MIN_PASSWORD_LENGTH} characters.", param_hint="password")
    return password


def _user_id(email: str) -> tuple[int, str]:
    """The id and the exact e-mail address of the account EMAIL (read without keeping the object)."""
    email = email.strip().lower()
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or user.email != email:
        raise click.ClickException(f"There is no user {email}.")
    return user.id, user.email


@staff_cli.command("create")
@click.argument("email")
@password_argument
def staff_create(email: str):
    """Create a staff account for EMAIL; prompts for its password."""
    email = email.strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", email) or len(email) > 254:
        raise click.BadParameter(f"{email!r} is not an e-mail address.", param_hint="EMAIL")
    if db.session.scalar(select(User).where(User.email == email)):
        raise click.ClickException(f"A user {email} already exists.")
    password = _prompt_password("Password")

    def work():
        user = User(email=email, is_staff=True)
        user.set_password(password)
        db.session.add(user)

    commit_unit_of_work(work, actor=CLI_ACTOR)
    click.echo(f"Staff account {email} created.")


@staff_cli.command("set-password")
@click.argument("email")
@password_argument
def staff_set_password(email: str):
    """Give EMAIL a new password (prompted for): every session of the account ends."""
    user_id, email = _user_id(email)
    password = _prompt_password("New password")

    def work():
        db.session.get_one(User, user_id).set_password(password)  # argon2id, and a new session token

    commit_unit_of_work(work, actor=CLI_ACTOR)
    click.echo(f"New password set for {email}; every session of the account has ended.")


@staff_cli.command("disable")
@click.argument("email")
def staff_disable(email: str):
    """Disable EMAIL at once: no log-in, its sessions end, its API tokens stop working."""
    user_id, email = _user_id(email)

    def work():
        account = db.session.get_one(User, user_id)
        if account.disabled_at is None:
            account.disabled_at = utcnow()
        account.end_sessions()

    commit_unit_of_work(work, actor=CLI_ACTOR)
    click.echo(f"{email} is disabled: its sessions have ended and its API tokens no longer work.")


@staff_cli.command("enable")
@click.argument("email")
def staff_enable(email: str):
    """Let a disabled EMAIL log in again (its API tokens work again unless revoked or expired)."""
    user_id, email = _user_id(email)

    def work():
        db.session.get_one(User, user_id).disabled_at = None

    commit_unit_of_work(work, actor=CLI_ACTOR)
    click.echo(f"{email} is enabled.")


@staff_cli.command("list")
def staff_list():
    """List the accounts: e-mail, staff or not, active or disabled (since when), created."""
    users = db.session.scalars(select(User).order_by(User.email)).all()
    click.echo(f"{'EMAIL':<40} {'STAFF':<5}  {'STATUS':<27} CREATED")
    for user in users:
        status = "active" if user.disabled_at is None else f"disabled {user.disabled_at:%Y-%m-%d %H:%M}"
        click.echo(
            f"{user.email:<40} {'yes' if user.is_staff else 'no':<5}  {status:<27} {user.created_at:%Y-%m-%d %H:%M}"
        )


# -- inventory -------------------------------------------------------------------------

inventory_cli = AppGroup("inventory", help="Stock on hand, adjustments, imports and the ledger check.")


def _where(product: Product, codes: dict[int, str]) -> str:
    """Each location's stock of ``product``, as ``main:7 floor:3``."""
    return " ".join(f"{codes[row.location_id]}:{row.quantity}" for row in product.stocks)


@inventory_cli.command("list")
def inventory_list():
    """Show every product with its status, stock on hand (at locations that fulfil orders) and where it is."""
    codes = {location.id: location.code for location in locations.all_locations(db.session)}
    products = db.session.scalars(
        select(Product).options(undefer(Product.on_hand), selectinload(Product.stocks)).order_by(Product.sku)
    ).all()
    click.echo(f"{'SKU':<16} {'STATUS':<12} {'ON HAND':>7}  {'NAME':<32} LOCATIONS")
    for p in products:
        low = " (low)" if stock.stock_is_low(p.on_hand, p.low_stock_threshold) else ""
        on_hand = "-" if p.on_hand is None else p.on_hand
        click.echo(f"{p.sku:<16} {p.status:<12} {on_hand:>7}  {p.name + low:<32} {_where(p, codes)}".rstrip())


location_option = click.option(
    "--location",
    default=None,
    metavar="CODE",
    help="The location (default: SHOP_DEFAULT_LOCATION, main).",
)


@inventory_cli.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("sku")
@click.argument("delta", type=int)
@click.option(
    "--reason",
    type=click.Choice([r.value for r in stock.MANUAL_REASONS]),
    required=True,
    help="restock (goods received) or adjustment (count correction, damage, …).",
)
@click.option("--note", default=None, help="Why, for the ledger.")
@location_option
def inventory_adjust(sku: str, delta: int, reason: str, note: str | None, location: str | None):
    """Change SKU's stock at a location by DELTA (negative to remove), with a ledger row."""
    _check_note(note)
    try:
        change = commit_unit_of_work(
            lambda: stock.adjust_stock(db.session, _product(sku), delta, reason, note, location=location),
            actor=CLI_ACTOR,
        )
    except InventoryError as exc:
        raise _refused(exc) from None
    click.echo(
        f"{change.sku}: {change.delta:+d} ({change.reason}), now {change.quantity_after} on hand at {change.location}."
    )


def _check_note(note: str | None) -> None:
    if note is not None and len(note) > 500:
        raise click.BadParameter("at most 500 characters.", param_hint="--note")


@inventory_cli.command("transfer")
@click.argument("sku")
@click.argument("quantity", type=int)
@click.option("--from", "source", required=True, metavar="CODE", help="The location the units leave.")
@click.option("--to", "target", required=True, metavar="CODE", help="The location they go to.")
@click.option("--note", default=None, help="Why, for the ledger.")
def inventory_transfer(sku: str, quantity: int, source: str, target: str, note: str | None):
    """Move QUANTITY units of SKU from one location to another: two ledger rows, one transfer id."""
    _check_note(note)
    try:
        transfer = commit_unit_of_work(
            lambda: stock.transfer_stock(db.session, _product(sku), quantity, source, target, note),
            actor=CLI_ACTOR,
        )
    except InventoryError as exc:
        raise _refused(exc) from None
    taken, given = transfer.taken, transfer.given
    click.echo(
        f"{taken.sku}: moved {given.delta} from {taken.location} (now {taken.quantity_after}) "
        f"to {given.location} (now {given.quantity_after}); transfer {transfer.transfer_id}."
    )


@dataclass
class ImportRow:
    line: int
    sku: str
    name: str
    price_cents: int
    quantity: int
    location: str | None = None  # None: the default location


IMPORT_COLUMNS = ("sku", "name", "price_cents", "quantity")
OPTIONAL_IMPORT_COLUMNS = ("location",)


def _whole_number(value: str | None) -> int | str:
    """A CSV cell as a whole number when it is one (digits only), else the text as written."""
    text = (value or "").strip()
    return int(text) if re.fullmatch(r"\d{1,18}", text) else text


def read_import_file(path: Path) -> tuple[list[ImportRow], list[str]]:
    """Parse and check every row with the product rules (``shop.products``); the rows and one error per bad line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], [f"{path.name}: not a UTF-8 text file."]
    reader = csv.DictReader(text.splitlines(), restkey="_extra")
    header = sorted(f.strip() for f in reader.fieldnames or [])
    if header not in (sorted(IMPORT_COLUMNS), sorted(IMPORT_COLUMNS + OPTIONAL_IMPORT_COLUMNS)):
        return [], [f"line 1: the header must be {','.join(IMPORT_COLUMNS)}, and optionally location."]
    reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
    known = {location.code for location in locations.all_locations(db.session)}
    rows: list[ImportRow] = []
    errors: list[str] = []
    seen: dict[tuple[str, str | None], int] = {}
    for record in reader:
        line = reader.line_num
        if "_extra" in record or None in record.values():
            errors.append(f"line {line}: expected {len(reader.fieldnames)} columns.")
            continue
        sku, name = record["sku"].strip(), record["name"].strip()
        location = (record.get("location") or "").strip() or None
        price, quantity = _whole_number(record["price_cents"]), _whole_number(record["quantity"])
        problems = [
            p
            for p in (
                products.sku_problem(sku),
                products.name_problem(name),
                products.price_problem(price),
                products.stock_problem(quantity),
            )
            if p is not None
        ]
        messages = [p.message.rstrip(".") for p in problems]
        if location is not None and location not in known:
            messages.append(f"there is no location {location}")
        if (sku, location) in seen:
            where = f" at {location}" if location else ""
            messages.insert(0, f"SKU {sku}{where} is already on line {seen[sku, location]}")
        if messages or not isinstance(price, int) or not isinstance(quantity, int):
            errors.append(f"line {line}: " + "; ".join(messages) + ".")
        else:
            seen[sku, location] = line
            rows.append(ImportRow(line, sku, name, price, quantity, location))
    if not rows and not errors:
        errors.append(f"{path.name}: no rows to import.")
    return rows, errors


def import_rows(rows: list[ImportRow], note: str) -> tuple[int, int]:
    """Create new products with their stock; update existing ones and set their stock (at each row's location)."""
    existing = {
        p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_([r.sku for r in rows])))
    }
    created: set[str] = set()
    for row in rows:
        product = existing.get(row.sku)
        if product is None:
            place = locations.location_named(db.session, row.location)
            product = existing[row.sku] = Product(sku=row.sku, name=row.name, price_cents=row.price_cents)
            product.stocks.append(Inventory(location_id=place.id, quantity=row.quantity))
            db.session.add(product)
            created.add(row.sku)
        elif row.sku in created:
            place = locations.location_named(db.session, row.location)
            product.stocks.append(Inventory(location_id=place.id, quantity=row.quantity))
        else:
            product.name, product.price_cents = row.name, row.price_cents
            db.session.flush()
            stock.set_stock(
                db.session, product, row.quantity, MovementReason.ADJUSTMENT, note, location=row.location
            )
    db.session.flush()
    return len(created), len({row.sku for row in rows}) - len(created)


@inventory_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inventory_import(file: Path):
    """Create or update products from a CSV of sku,name,price_cents,quantity[,location] (all or nothing).

    Without a location column, or with an empty cell, the stock is at the default location; a
    product may have one row per location.
    """
    rows, errors = read_import_file(file)
    if errors:
        for error in errors:
            click.echo(error, err=True)
        raise click.ClickException(f"Nothing imported: {len(errors)} bad line(s) in {file.name}.")
    try:
        created, updated = commit_unit_of_work(
            lambda: import_rows(rows, f"import {file.name}"), actor=CLI_ACTOR
        )
    except InventoryError as exc:
        raise _refused(exc) from None
    click.echo(f"Imported {file.name}: {created} product(s) created, {updated} updated.")


def ledger_mismatches() -> list[tuple[str, str, int, int]]:
    """(sku, location code, stock there, ledger sum there) for every (product, location) where the two differ.

    A (product, location) with ledger rows but no stock row counts as 0 on hand, and one with a stock
    row but no ledger rows as a ledger of 0.
    """
    ledger = (
        select(
            InventoryMovement.product_id,
            InventoryMovement.location_id,
            func.sum(InventoryMovement.delta).label("total"),
        )
        .group_by(InventoryMovement.product_id, InventoryMovement.location_id)
        .subquery()
    )
    stock_rows = select(Inventory.product_id, Inventory.location_id, Inventory.quantity).subquery()
    keys = (
        select(stock_rows.c.product_id, stock_rows.c.location_id)
        .union(select(ledger.c.product_id, ledger.c.location_id))
        .subquery()
    )
    on_hand = func.coalesce(stock_rows.c.quantity, 0)
    total = func.coalesce(ledger.c.total, 0)
    stmt = (
        select(Product.sku, Location.code, on_hand, total)
        .select_from(keys)
        .join(Product, Product.id == keys.c.product_id)
        .join(Location, Location.id == keys.c.location_id)
        .outerjoin(
            stock_rows,
            (stock_rows.c.product_id == keys.c.product_id) & (stock_rows.c.location_id == keys.c.location_id),
        )
        .outerjoin(
            ledger, (ledger.c.product_id == keys.c.product_id) & (ledger.c.location_id == keys.c.location_id)
        )
        .where(on_hand != total)
        .order_by(Product.sku, Location.code)
    )
    return [(sku, code, int(q), int(t)) for sku, code, q, t in db.session.execute(stmt)]


@inventory_cli.command("reconcile")
def inventory_reconcile():
    """Check that the stock of every product at every location equals the sum of its ledger there; exit 1 on any
    mismatch."""
    mismatches = ledger_mismatches()
    if mismatches:
        for sku, code, on_hand, total in mismatches:
            click.echo(
                f"{sku}: {on_hand} on hand, ledger sums to {total} ({on_hand - total:+d}) at {code}.",
                err=True,
            )
        products_off = len({sku for sku, *_ in mismatches})
        raise click.ClickException(
            f"{products_off} product(s) do not reconcile with the ledger ({len(mismatches)} location row(s))."
        )
    count = db.session.scalar(select(func.count()).select_from(Product))
    click.echo(f"All {count} product(s) reconcile with the ledger at every location.")


# -- orders ----------------------------------------------------------------------------

orders_cli = AppGroup("orders", help="Place orders, change their status, look them up.")


def parse_item(value: str) -> tuple[str, int]:
    sku, sep, qty = value.rpartition(":")
    if not sep or not sku or not re.fullmatch(r"-?\d+", qty.strip()):
        raise click.BadParameter(f"{value!r} is not SKU:QUANTITY (e.g. TEA-001:2).", param_hint="--item")
    quantity = int(qty)
    if not 0 < quantity <= stock.MAX_LINE_QUANTITY:
        raise click.BadParameter(
            f"{value!r}: quantity must be 1 to {stock.MAX_LINE_QUANTITY}.", param_hint="--item"
        )
    return sku.strip(), quantity


def hold_line(order: Order) -> str | None:
    """The order's hold as the CLI says it (``shop.holds.hold_state`` decides), or None if it is no hold."""
    state = hold_state(order)
    if state is HoldState.NONE:
        return None
    until = f"{order.hold_expires_at:%Y-%m-%d %H:%M:%S} UTC"
    return {
        HoldState.LIVE: f"Hold: live until {until}",
        HoldState.EXPIRED: f"Hold: expired at {until}, not released yet",
        HoldState.RELEASED: f"Hold: released, it expired at {until}",
    }[state]


def describe(order: Order) -> list[str]:
    """What ``flask orders show`` prints: status, customer, lines, total, stock taken, hold."""
    lines = [
        f"Order {order.number}: {order.status}",
        f"Customer: {order.customer_name} <{order.customer_email}>",
    ]
    for item in order.items:
        lines.append(
            f"  {item.product.sku:<16} {item.quantity:>5} × {_money(item.unit_price_cents):>8}"
            f" = {_money(item.line_total_cents):>9}"
        )
        if item.allocations:
            taken = ", ".join(f"{a.quantity} at {a.location.code}" for a in item.allocations)
            lines.append(f"  {'':<16} taken: {taken}")
    lines.append(f"Total: {_money(order.total_cents)}")
    if order.stock_committed_at:
        lines.append(f"Stock taken at {order.stock_committed_at:%Y-%m-%d %H:%M:%S} UTC")
    if (hold := hold_line(order)) is not None:
        lines.append(hold)
    return lines


@orders_cli.command("place")
@click.option(
    "--item",
    "items",
    multiple=True,
    required=True,
    metavar="SKU:QTY",
    help="A line of the order; repeat for more lines.",
)
@click.option(
    "--status",
    type=click.Choice([s.value for s in OrderStatus]),
    default=OrderStatus.CONFIRMED.value,
    show_default=True,
    help="confirmed and paid take stock; draft and cancelled don't.",
)
@click.option("--customer", default="Walk-in customer", show_default=True, help="Customer name.")
@click.option("--email", default="walk-in@example.com", show_default=True, help="Customer e-mail.")
def orders_place(items: tuple[str, ...], status: str, customer: str, email: str):
    """Place an order; confirmed and paid orders take stock at once."""
    lines = [parse_item(item) for item in items]
    try:
        order = commit_unit_of_work(
            lambda: place_order(
                db.session, lines, status=status, customer_name=customer, customer_email=email
            ),
            actor=CLI_ACTOR,
        )
    except InventoryError as exc:
        raise _refused(exc) from None
    click.echo("\n".join(describe(order)))


@orders_cli.command("set-status")
@click.argument("number")
@click.argument("status", type=click.Choice([s.value for s in OrderStatus]))
def orders_set_status(number: str, status: str):
    """Move order NUMBER to STATUS (cancelling a committed order returns its stock)."""

    def work() -> Order:
        order = _order(number)
        change_status(db.session, order, status, actor=CLI_ACTOR)
        return order

    try:
        order = commit_unit_of_work(work, actor=CLI_ACTOR)
    except InventoryError as exc:
        raise _refused(exc) from None
    click.echo(f"Order {order.number} is now {order.status}.")


@orders_cli.command("expire-holds")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Release at most this many holds (default: every expired one).",
)
def orders_expire_holds(limit: int | None):
    """Release expired holds: cancel them and put their stock back (safe from cron, in parallel)."""
    released = release_expired_holds(limit=limit)
    click.echo(f"Released {released.orders} expired hold(s), {released.units} unit(s) back in stock.")


@orders_cli.command("show")
@click.argument("number")
def orders_show(number: str):
    """Show order NUMBER with its lines, totals and where each line's stock was taken."""
    click.echo("\n".join(describe(_order(number))))


def pick_list(location: Location) -> list[tuple[str, str, str, int]]:
    """(order number, SKU, product name, units) to pick at ``location`` for paid orders, oldest order first."""
    stmt = (
        select(Order.number, Product.sku, Product.name, func.sum(OrderItemAllocation.quantity))
        .select_from(OrderItemAllocation)
        .join(OrderItem, OrderItem.id == OrderItemAllocation.order_item_id)
        .join(Order, Order.id == OrderItem.order_id)
        .join(Product, Product.id == OrderItem.product_id)
        .where(OrderItemAllocation.location_id == location.id, Order.status == OrderStatus.PAID)
        .group_by(Order.id, Order.number, Product.sku, Product.name)
        .order_by(Order.id, Product.sku)
    )
    return [(number, sku, name, int(units)) for number, sku, name, units in db.session.execute(stmt)]


@orders_cli.command("picklist")
@click.option("--location", "code", required=True, metavar="CODE", help="The location to pick at.")
def orders_picklist(code: str):
    """What to pick at a location for paid orders: each order's units there, then the total per SKU."""
    location = locations.find_location(db.session, code)
    if location is None:
        raise click.ClickException(f"There is no location {code}.")
    picks = pick_list(location)
    if not picks:
        click.echo(f"Nothing to pick at {location.code}: no paid order took stock there.")
        return
    click.echo(f"Pick list for {location.code} ({location.name}): {len({p[0] for p in picks})} paid order(s)")
    for number, sku, name, units in picks:
        click.echo(f"  {number}  {sku:<16} {units:>5}  {name}")
    totals: dict[str, int] = {}
    for _, sku, _, units in picks:
        totals[sku] = totals.get(sku, 0) + units
    click.echo("Total per SKU:")
    for sku, units in sorted(totals.items()):
        click.echo(f"  {sku:<16} {units:>5}")


# -- locations -------------------------------------------------------------------------

locations_cli = AppGroup("locations", help="The places that keep stock, and which of them serve orders.")


def _flag_option(name: str, help: str):
    return click.option(f"--{name}/--no-{name}", default=None, help=help)


@locations_cli.command("add")
@click.argument("code")
@click.option("--name", required=True, help="What staff call it, e.g. 'Shop floor'.")
@click.option("--priority", type=int, default=0, show_default=True, help="Orders take stock at lower first.")
@click.option("--no-fulfil", "no_fulfil", is_flag=True, help="Keeps stock, but orders never take from it.")
def locations_add(code: str, name: str, priority: int, no_fulfil: bool):
    """Add location CODE (active, fulfilling orders unless --no-fulfil)."""
    try:
        location = commit_unit_of_work(
            lambda: locations.add_location(
                db.session, code, name, priority=priority, fulfils_orders=not no_fulfil
            ),
            actor=CLI_ACTOR,
        )
    except InventoryError as exc:
        raise _refused(exc) from None
    click.echo(f"Location {location.code} added: {describe_location(location)}.")


def describe_location(location: Location) -> str:
    """``Shop floor, priority 1, fulfils orders, active``."""
    fulfils = "fulfils orders" if location.fulfils_orders else "does not fulfil orders"
    return f"{location.name}, priority {location.priority}, {fulfils}, {'active' if location.active else 'inactive'}"


@locations_cli.command("list")
def locations_list():
    """Every location in the order orders try them, with its units on hand."""
    units = dict(
        db.session.execute(
            select(Inventory.location_id, func.sum(Inventory.quantity)).group_by(Inventory.location_id)
        ).all()
    )
    default = locations.default_location_code()
    click.echo(f"{'CODE':<16} {'PRIORITY':>8}  {'FULFILS':<7}  {'ACTIVE':<6}  {'UNITS':>7}  NAME")
    for location in locations.all_locations(db.session):
        mark = " (default)" if location.code == default else ""
        click.echo(
            f"{location.code:<16} {location.priority:>8}  {'yes' if location.fulfils_orders else 'no':<7}  "
            f"{'yes' if location.active else 'no':<6}  {int(units.get(location.id, 0)):>7}  {location.name}{mark}"
        )


@locations_cli.command("edit")
@click.argument("code")
@click.option("--name", default=None, help="A new name.")
@click.option("--priority", type=int, default=None, help="A new priority (orders take stock at lower first).")
@_flag_option("fulfil", "Whether orders may take stock here.")
@_flag_option("active", "An inactive location keeps its stock, but orders and the storefront ignore it.")
def locations_edit(
    code: str, name: str | None, priority: int | None, fulfil: bool | None, active: bool | None
):
    """Change location CODE's name, priority, or whether it fulfils orders or is active (its code stays)."""
    if name is None and priority is None and fulfil is None and active is None:
        raise click.UsageError(
            "Say what to change: --name, --priority, --fulfil/--no-fulfil, --active/--no-active."
        )

    def work() -> Location:
        location = locations.find_location(db.session, code)
        if location is None:
            raise click.ClickException(f"There is no location {code}.")
        return locations.edit_location(
            db.session, location, name=name, priority=priority, fulfils_orders=fulfil, active=active
        )

    try:
        location = commit_unit_of_work(work, actor=CLI_ACTOR)
    except InventoryError as exc:
        raise _refused(exc) from None
    click.echo(f"Location {location.code}: {describe_location(location)}.")


# -- catalog ---------------------------------------------------------------------------

catalog_cli = AppGroup("catalog", help="The storefront's catalog.")


@catalog_cli.command("reindex")
def catalog_reindex():
    """Rebuild every product's search terms, e.g. after products were written with plain SQL."""
    indexed = commit_unit_of_work(lambda: search.rebuild_terms(db.session), actor=CLI_ACTOR)
    click.echo(f"Indexed {indexed} product(s) for search.")


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(staff_cli)
    app.cli.add_command(inventory_cli)
    app.cli.add_command(orders_cli)
    app.cli.add_command(locations_cli)
    app.cli.add_command(catalog_cli)
