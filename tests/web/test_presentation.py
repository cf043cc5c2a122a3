"""The small functions behind badges, buttons, the chart and the CSV: no app, no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from shop.models import Order, Product
from shop.orders import TRANSITIONS
from shop.web.presentation import (
    availability,
    count_of,
    delta_class,
    hold_note,
    is_low_stock,
    last_page_note,
    money,
    order_actions,
    safe_next,
    staff_hold_note,
)
from shop.web.staff.chart import nice_step, stock_chart
from shop.web.staff.ledger_csv import csv_lines, day_range, parse_day, safe_cell


def product(quantity, status="active", threshold=3):
    """A product with ``quantity`` units on hand at the locations that fulfil orders (None: not stocked there)."""
    p = Product(sku="A-1", name="A", price_cents=100, status=status, low_stock_threshold=threshold)
    p.on_hand = quantity  # what the queries of the pages load with it (Product.on_hand)
    return p


@pytest.mark.parametrize(
    "quantity, status, key, label, orderable",
    [
        (10, "active", "in_stock", "In stock", True),
        (4, "active", "in_stock", "In stock", True),
        (3, "active", "low_stock", "Only 3 left", True),
        (1, "active", "low_stock", "Only 1 left", True),
        (0, "active", "out_of_stock", "Out of stock", False),
        (None, "active", "out_of_stock", "Out of stock", False),
        (10, "unavailable", "unavailable", "Temporarily unavailable", False),
        (10, "discontinued", "discontinued", "Discontinued", False),
        (0, "discontinued", "discontinued", "Discontinued", False),
    ],
)
def test_availability(quantity, status, key, label, orderable):
    a = availability(product(quantity, status))
    assert (a.key, a.label, a.orderable) == (key, label, orderable)
    assert a.css_class.startswith("badge-")


@pytest.mark.parametrize("quantity, low", [(4, False), (3, True), (0, True), (None, False)])
def test_low_stock_is_at_or_below_the_threshold(quantity, low):
    assert is_low_stock(product(quantity)) is low


@pytest.mark.parametrize("status", list(TRANSITIONS))
def test_order_actions_are_exactly_the_allowed_transitions(status):
    assert {a.status for a in order_actions(status)} == TRANSITIONS[status]


def test_order_actions_have_readable_labels():
    assert [a.label for a in order_actions("draft")] == ["Confirm", "Mark paid", "Cancel"]
    assert order_actions("cancelled") == [] and order_actions("bogus") == []


NOON = datetime(2025, 1, 1, 12, 0)


def order(status, hold_expires_at):
    return Order(number="N-1", status=status, hold_expires_at=hold_expires_at)


@pytest.mark.parametrize(
    "status, until, text, css_class, payable",
    [
        (
            "confirmed",
            NOON + timedelta(minutes=9),
            "Held for you until 12:09 UTC, 9 minutes left.",
            "is-live",
            True,
        ),
        ("confirmed", NOON, "Held for you until 12:00 UTC, less than a minute left.", "is-live", True),
        (
            "confirmed",
            NOON - timedelta(seconds=1),
            "Your hold expired at 11:59 UTC: the items are being",
            "is-expired",
            False,
        ),
        (
            "cancelled",
            NOON - timedelta(minutes=5),
            "Your hold expired at 11:55 UTC before it was paid",
            "is-expired",
            False,
        ),
    ],
)
def test_a_customer_is_told_where_the_hold_stands(status, until, text, css_class, payable):
    note = hold_note(order(status, until), now=NOON)
    assert note is not None and note.text.startswith(text)
    assert (note.css_class, note.payable) == (css_class, payable)


@pytest.mark.parametrize("status", ["draft", "confirmed", "paid", "cancelled"])
def test_an_order_without_an_expiry_has_no_hold_note(status):
    assert hold_note(order(status, None), now=NOON) is None
    assert staff_hold_note(order(status, None), now=NOON) is None


def test_staff_see_the_time_left_or_the_expiry_of_an_unpaid_hold_only():
    live = staff_hold_note(order("confirmed", NOON + timedelta(minutes=1, seconds=1)), now=NOON)
    expired = staff_hold_note(order("confirmed", NOON - timedelta(minutes=1)), now=NOON)
    assert live is not None and (live.text, live.css_class) == (
        "held until 12:01 UTC · 2 minutes left",
        "muted",
    )
    assert expired is not None and (expired.text, expired.css_class) == (
        "hold expired 2025-01-01 11:59 UTC",
        "hold-expired",
    )
    assert staff_hold_note(order("cancelled", NOON - timedelta(minutes=1)), now=NOON) is None  # released


@pytest.mark.parametrize(
    "cents, text", [(0, "€0.00"), (1250, "€12.50"), (123456789, "€1,234,567.89"), (-5, "-€0.05"), (None, "—")]
)
def test_money(cents, text):
    assert money(cents) == text


def test_counts_of_things_agree_in_number():
    assert [count_of(n, "row") for n in (0, 1, 2)] == ["0 rows", "1 row", "2 rows"]
    assert count_of(1, "product matches", "products match") == "1 product matches"
    assert count_of(60, "product matches", "products match") == "60 products match"


def test_the_note_for_a_page_past_the_end():
    assert last_page_note(1, searching=False) == "There is only 1 page: here is the last one."
    assert last_page_note(3, searching=True) == "There are only 3 pages of results: here is the last one."


def test_a_ledger_change_is_up_or_down():
    assert (delta_class(5), delta_class(-1)) == ("delta-up", "delta-down")


@pytest.mark.parametrize(
    "target, safe",
    [
        ("/staff/orders?page=2", True),
        ("/", True),
        (None, False),
        ("", False),
        ("staff", False),
        ("//evil.example", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("/ok\r\nSet-Cookie: x", False),
    ],
)
def test_safe_next(target, safe):
    assert safe_next(target) == (target if safe else None)


@pytest.mark.parametrize(
    "maximum, step", [(0, 1), (3, 1), (10, 5), (37, 10), (40, 10), (120, 50), (999, 500)]
)
def test_nice_step(maximum, step):
    assert nice_step(maximum) == step


T0 = datetime(2025, 1, 1, 12, 0)


def test_the_chart_is_a_step_line_over_time_with_the_threshold():
    history = [(T0, 10), (T0 + timedelta(hours=1), 4), (T0 + timedelta(hours=3), 8)]
    chart = stock_chart(history, threshold=5, sku="A-1", now=T0 + timedelta(hours=4))
    points = [tuple(float(v) for v in p.split(",")) for p in chart.points.split()]
    xs = [x for x, _ in points]
    assert xs == sorted(xs) and xs[0] == chart.left and xs[-1] == chart.right
    assert len(points) == 1 + 2 * 2 + 1
    ys = [y for _, y in points]
    assert ys[0] == ys[1] == chart.top  # 10 is the top of a 0..10 scale
    assert ys[2] > ys[4] > ys[0]  # down to 4, back up to 8
    assert chart.top < chart.threshold_y < chart.bottom
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"]
    assert "Stock went from 10 to 8; lowest 4, highest 10. Low-stock threshold: 5." in chart.description
    assert chart.width == 720 and chart.area.startswith("M") and chart.area.endswith("Z")


def test_rows_at_one_instant_are_spread_out_and_an_empty_ledger_has_no_chart():
    chart = stock_chart([(T0, 5), (T0, 3)], threshold=0, sku="A-1", now=T0)
    assert len(chart.points.split()) == 3
    assert stock_chart([], threshold=5, sku="A-1", now=T0) is None


def test_the_scale_makes_room_for_a_threshold_above_the_stock():
    chart = stock_chart([(T0, 2)], threshold=20, sku="A-1", now=T0 + timedelta(days=3))
    assert chart.threshold_y == chart.top
    assert [t.label for t in chart.x_ticks] == ["1 Jan 2025", "4 Jan 2025"]


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (-5, -5),
        (None, None),
        (datetime(2025, 1, 2, 3, 4, 5, 678), "2025-01-02 03:04:05"),
    ],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_csv_lines_stream_a_header_then_rows():
    row = (datetime(2025, 1, 2), "A-1", -2, 3, "order_placed", "customer", "N", "=x", "main")
    lines = list(csv_lines([row]))
    assert lines == [
        "created_at,sku,delta,quantity_after,reason,actor,order_number,note,location\r\n",
        "2025-01-02 00:00:00,A-1,-2,3,order_placed,customer,N,'=x,main\r\n",
    ]


def test_dates_for_the_export():
    assert parse_day("2025-01-31", "from") == date(2025, 1, 31)
    assert parse_day(" ", "from") is None and parse_day(None, "to") is None
    with pytest.raises(ValueError, match="'to' must be a date like 2025-01-31, not 'soon'"):
        parse_day("soon", "to")
    assert day_range(date(2025, 1, 1), date(2025, 1, 1)) == (datetime(2025, 1, 1), datetime(2025, 1, 2))
    with pytest.raises(ValueError, match="'from' must not be after 'to'"):
        day_range(date(2025, 1, 2), date(2025, 1, 1))
