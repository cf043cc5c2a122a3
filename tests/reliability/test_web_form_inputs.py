"""Hypothesis posts bad input to every web form field and query parameter (issue 5, reliability).

Every answer must be a clear 4xx, or a 2xx/3xx when the input happens to be valid; never a 500.
A refused request changes nothing: stock, ledger rows, orders, product statuses are compared
before and after, and the ledger must always balance with the stock (docs/architecture.md).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from shop.extensions import db
from shop.locations import add_location, find_location
from shop.models import Product
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD
from tests.support.readers import assert_ledger_balances, snapshot
from tests.support.web import (
    cart_of,
    checkout,
    fill_cart,
    make_web_app,
    order_token,
    product_ids,
    staff_client_of,
)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values a form field may receive from a careless user or a hostile client: each strategy
# puts its edge cases first (Hypothesis draws them often) and random values after.
EDGE_NUMBERS = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-0",
        "1",
        "2",
        "-1",
        "-5",
        "+3",
        " 4 ",
        "1.5",
        "1e3",
        "0x10",
        "1_000",
        "nan",
        "inf",
        "-inf",
        "９",
        "٣",
        "10000",
        "10001",
        "999999999",
        "1000000",
        "1000001",
        "-1000000",
        "-1000001",
        "2147483648",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999",
        "-99999999999999999999",
        "9" * 400,
        "1\x00",
        "one",
    ]
)
# Past a float (~309 digits) and up to Python's 4300-digit int() limit, either sign.
HUGE_NUMBER = st.builds(
    lambda sign, digits: sign + "9" * digits,
    st.sampled_from(["", "-"]),
    st.integers(min_value=300, max_value=4400),
)
NUMBER = st.one_of(
    EDGE_NUMBERS,
    HUGE_NUMBER,
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.integers(min_value=-3, max_value=60).map(str),
)
EDGE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "Ada Lovelace",
        "ada@example.com",
        "a@b.c",
        "@",
        "a@b",
        "x" * 5000,
        "x@" + "y" * 300 + ".com",
        "<script>alert(1)</script>",
        "'; DROP TABLE orders; --",
        "%s%n",
        "\x00",
        "Ada\x00",
        "a\x00@b.c",
        "\u202e\u0301",
        "💥" * 300,
        "\ud7ff\ufffd",
        "TEA",
        "NOPE",
        "restock",
        "adjustment",
        "initial_stock",
        "order_placed",
        "active",
        "unavailable",
        "discontinued",
        "draft",
        "confirmed",
        "paid",
        "cancelled",
        "PAID",
        "asc",
        "desc",
        "sku",
        "name",
        "on_hand",
        "status",
        "1",
        "-1",
    ]
)
# A plausible value with one awkward character in it: passes the form's checks, reaches the database.
ALMOST_VALID_TEXT = st.builds(
    lambda value, char, at: value[:at] + char + value[at:],
    st.sampled_from(["Ada Lovelace", "ada@example.com", "delivery 42", "restock", "discontinued", "desc"]),
    st.sampled_from(["\x00", "\x00", "\x01", "\ufeff", "\u202e", "'", '"', "%", "_", "\\", "💥"]),
    st.integers(min_value=0, max_value=20),
)
TEXT = st.one_of(
    EDGE_TEXT, ALMOST_VALID_TEXT, ALMOST_VALID_TEXT, st.text(max_size=40)
)  # the middle one twice as often
VALUE = st.one_of(NUMBER, TEXT)


def occurrences(values):
    """A field may be missing (None), sent once, or sent several times."""
    return st.one_of(st.none(), values.map(lambda v: [v]), st.lists(values, min_size=2, max_size=3))


def changes_to(fields: dict):
    """Changes to a valid form: one field (so the rest stays valid and the bad value gets far) or several."""
    one = st.sampled_from(sorted(fields)).flatmap(lambda name: fields[name].map(lambda value: {name: value}))
    return st.one_of(one, st.fixed_dictionaries({}, optional=fields))


SKUS = st.one_of(
    st.sampled_from(["TEA", "COFFEE", "NOPE", "tea", "TEA ", "T%", "_", "..", "x" * 300]),
    st.text(min_size=1, max_size=20),
)
# Mostly a real product (so the other fields get exercised), sometimes anything at all.
SKU_IN_PATH = st.integers(min_value=0, max_value=3).flatmap(
    lambda i: st.just(("TEA", "COFFEE", "TEA")[i]) if i < 3 else SKUS
)


def form(**fields) -> MultiDict:
    """A form body: None leaves a field out, a list sends every value under the same name."""
    data = MultiDict()
    for name, values in fields.items():
        for value in values or []:
            data.add(name, value)
    return data


def assert_clear_answer(response):
    """Never a server error; a refusal is an HTML page (or a redirect) that says something."""
    event(f"HTTP {response.status_code}")  # pytest --hypothesis-show-statistics shows the mix
    assert response.status_code < 500, response.status_code
    assert "Traceback" not in response.text
    if 400 <= response.status_code < 500:
        assert response.mimetype == "text/html" and response.text.strip()


def path_segment(value: str) -> str:
    """A URL path segment the test client can send: percent-encoded, never empty."""
    return quote(value, safe="") or "%20"


def assert_unchanged_unless(succeeded: bool, app, before):
    assert_ledger_balances(app)
    if not succeeded:
        assert snapshot(app) == before


# -- storefront: checkout, add to cart, the cart's quantities and Remove (SQLite and PostgreSQL) ------


@pytest.fixture(params=["sqlite", "postgresql"])
def checkout_app(request, database_urls):
    yield from make_web_app(database_urls, request.param)


VALID_CHECKOUT = {
    "customer_name": ["Ada Lovelace"],
    "customer_email": ["ada@example.com"],
    "place": ["Place order"],
}
CHECKOUT_CHANGES = changes_to(
    {
        "customer_name": occurrences(TEXT),
        "customer_email": occurrences(TEXT),
        "order_token": occurrences(TEXT),
        "place": occurrences(VALUE),
        "save_draft": occurrences(VALUE),
        "submit": occurrences(VALUE),
    }
)


@FUZZ
@example(changes={"customer_name": ["Ada\x00"]}, tokens=1)  # PostgreSQL refuses NUL in text
@example(changes={"save_draft": ["1"], "place": None}, tokens=2)
@given(changes=CHECKOUT_CHANGES, tokens=st.integers(min_value=1, max_value=2))
def test_checkout_form_survives_any_input(checkout_app, changes, tokens):
    """A valid checkout of a cart (2 × TEA) with some fields replaced, left out or repeated."""
    client = checkout_app.test_client()
    fill_cart(client, {"TEA": 2})
    fields = {**VALID_CHECKOUT, "order_token": [order_token(client)] * tokens, **changes}
    note(repr(fields))
    before = snapshot(checkout_app)
    response = client.post("/checkout", data=form(**fields))
    assert_clear_answer(response)
    succeeded = response.status_code == 302 and "/orders/" in response.headers["Location"]
    assert succeeded or response.status_code in (400, 422), response.status_code
    assert_unchanged_unless(succeeded, checkout_app, before)
    assert (cart_of(client) is None) == succeeded  # placed: the cart is empty; refused: it is kept


@FUZZ
@example(sku=["TEA"], quantity=["9" * 400], next_=None)  # past a float: WTForms' isnan overflowed
@example(sku=["TEA"], quantity=["2"], next_=["//evil.example/"])
@given(sku=occurrences(SKUS), quantity=occurrences(NUMBER), next_=occurrences(TEXT))
def test_add_to_cart_survives_any_input(checkout_app, sku, quantity, next_):
    client = checkout_app.test_client()
    fields = {"sku": sku, "quantity": quantity, "next": next_}
    note(repr(fields))
    before = snapshot(checkout_app)
    response = client.post("/cart/add", data=form(**fields))
    assert_clear_answer(response)
    assert response.status_code in (302, 400, 404, 422), response.status_code
    assert snapshot(checkout_app) == before  # a cart is not an order: nothing in the database changes
    cart = cart_of(client)
    if response.status_code == 302:
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//"), location  # never off-site
        assert cart is not None and len(cart) == 1 and 1 <= cart[0][1] <= 10_000
    else:
        assert cart is None


@FUZZ
@given(
    tea=occurrences(NUMBER),
    coffee=occurrences(NUMBER),
    other=st.none() | st.tuples(SKUS, occurrences(NUMBER)),
    button=st.sampled_from(["update", "checkout", "remove", "x"]),
    remove=occurrences(VALUE),
)
def test_the_cart_forms_survive_any_input(checkout_app, tea, coffee, other, button, remove):
    """The cart's quantity fields (its own lines, and fields of products it does not hold) and Remove."""
    client = checkout_app.test_client()
    fill_cart(client, {"TEA": 3, "COFFEE": 1})
    ids = product_ids(client, ["TEA", "COFFEE"])
    tea_id, coffee_id = ids["TEA"], ids["COFFEE"]
    fields = {f"qty-{tea_id}": tea, f"qty-{coffee_id}": coffee, button: ["1"]}
    if other:
        fields[f"qty-{other[0]}"] = other[1]
    path = "/cart"
    if button == "remove":
        path, fields = "/cart/remove", {"remove": remove}
    note(repr((path, fields)))
    before = snapshot(checkout_app)
    response = client.post(path, data=form(**fields))
    assert_clear_answer(response)
    assert response.status_code in (302, 400, 422), response.status_code
    assert snapshot(checkout_app) == before
    cart = cart_of(client) or []
    assert len(cart) <= 2 and all(1 <= quantity <= 10_000 for _, quantity in cart)
    if response.status_code != 302:
        assert cart == [[tea_id, 3], [coffee_id, 1]]  # a refused change changes nothing
    assert client.get("/cart").status_code == 200


# JSON-like values a session's cart could hold (an older version, a bug, a rotated key).
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)
CART_VALUES = st.one_of(
    JSON,
    st.lists(st.lists(st.integers(min_value=-3, max_value=2**33), min_size=0, max_size=3), max_size=120),
)


@FUZZ
@given(cart=CART_VALUES, path=st.sampled_from(["/cart", "/checkout", "/", "/products/TEA"]))
def test_any_cart_in_the_session_is_read_or_dropped_never_a_500(checkout_app, cart, path):
    client = checkout_app.test_client()
    with client.session_transaction() as session:
        session["cart"] = cart
    note(repr(cart))
    before = snapshot(checkout_app)
    response = client.get(path)
    assert_clear_answer(response)
    assert response.status_code in (200, 302), response.status_code
    assert snapshot(checkout_app) == before


@pytest.fixture
def staff_client(sqlite_app):
    """Logged in once per test: every Hypothesis example reuses the session."""
    return staff_client_of(sqlite_app)


# -- staff login --------------------------------------------------------------------------------


@FUZZ
@given(
    email=st.one_of(st.just([STAFF_EMAIL]), occurrences(TEXT)),
    password=st.one_of(st.just([STAFF_PASSWORD]), occurrences(TEXT)),
    next_=occurrences(TEXT),
    submit=occurrences(VALUE),
)
def test_login_form_survives_any_input(sqlite_app, email, password, next_, submit):
    client = sqlite_app.test_client()
    response = client.post(
        "/staff/login", data=form(email=email, password=password, next=next_, submit=submit)
    )
    assert_clear_answer(response)
    logged_in = client.get("/staff/").status_code == 200
    if response.status_code == 302:
        assert logged_in
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//"), location  # never off-site
    else:
        assert response.status_code in (400, 401, 422) and not logged_in


# -- staff product page: adjustment and status forms ---------------------------------------------


ADJUSTMENT_CHANGES = changes_to(
    {
        "delta": occurrences(NUMBER),
        "reason": occurrences(TEXT),
        "note": occurrences(TEXT),
        "submit": occurrences(VALUE),
    }
)


@FUZZ
@given(sku=SKU_IN_PATH, changes=ADJUSTMENT_CHANGES)
def test_adjustment_form_survives_any_input(sqlite_app, staff_client, sku, changes):
    """A valid adjustment with some fields replaced, left out or repeated, on a known or unknown SKU."""
    fields = {"delta": ["3"], "reason": ["restock"], "note": ["delivery 42"], **changes}
    note(repr((sku, fields)))
    before = snapshot(sqlite_app)
    response = staff_client.post(f"/staff/products/{path_segment(sku)}/adjust", data=form(**fields))
    assert_clear_answer(response)
    succeeded = response.status_code == 302
    assert succeeded or response.status_code in (400, 404, 422), response.status_code
    assert_unchanged_unless(succeeded, sqlite_app, before)
    if succeeded:
        after = snapshot(sqlite_app)
        assert after["ledger"] == before["ledger"] + 1 and after["stock"][sku] != before["stock"][sku]


TRANSFER_CHANGES = changes_to(
    {
        "quantity": occurrences(NUMBER),
        "source": occurrences(st.one_of(TEXT, st.sampled_from(["main", "floor", "nowhere"]))),
        "target": occurrences(st.one_of(TEXT, st.sampled_from(["main", "floor", "nowhere"]))),
        "note": occurrences(TEXT),
        "submit": occurrences(VALUE),
    }
)


@FUZZ
@given(sku=SKU_IN_PATH, changes=TRANSFER_CHANGES)
def test_transfer_form_survives_any_input(sqlite_app, staff_client, sku, changes):
    """A valid transfer with some fields replaced, left out or repeated, on a known or unknown SKU."""
    with sqlite_app.app_context():
        if find_location(db.session, "floor") is None:
            add_location(db.session, "floor", "Shop floor", priority=1)
            db.session.commit()
    fields = {"quantity": ["2"], "source": ["main"], "target": ["floor"], "note": ["shelf"], **changes}
    note(repr((sku, fields)))
    before = snapshot(sqlite_app)
    response = staff_client.post(f"/staff/products/{path_segment(sku)}/transfer", data=form(**fields))
    assert_clear_answer(response)
    succeeded = response.status_code == 302
    assert succeeded or response.status_code in (400, 404, 422), response.status_code
    assert_unchanged_unless(succeeded, sqlite_app, before)
    if succeeded:  # two ledger rows; the product's units are where they were, less and more
        after = snapshot(sqlite_app)
        assert after["ledger"] == before["ledger"] + 2 and after["stock"][sku] == before["stock"][sku]
        assert after["locations"] != before["locations"]


PRODUCT_FIELDS = {
    "name": occurrences(TEXT),
    "price": occurrences(st.one_of(NUMBER, TEXT, st.sampled_from(["12.50", "12,5", "€3", "0.001", "1e3"]))),
    "low_stock_threshold": occurrences(NUMBER),
    "max_per_order": occurrences(NUMBER),
    "status": occurrences(TEXT),
    "submit": occurrences(VALUE),
}
VALID_EDIT = {
    "name": ["Green tea"],
    "price": ["12.50"],
    "low_stock_threshold": ["3"],
    "max_per_order": [""],
    "status": ["unavailable"],
}


def products_of(app):
    """Every product's columns staff can set, by SKU."""
    with app.app_context():
        try:
            return {
                row.sku: tuple(row)
                for row in db.session.execute(
                    select(
                        Product.sku,
                        Product.name,
                        Product.price_cents,
                        Product.low_stock_threshold,
                        Product.max_per_order,
                        Product.status,
                    )
                )
            }
        finally:
            db.session.remove()


@FUZZ
@example(sku="TEA", changes={"name": ["Tea\x00"]})
@example(sku="TEA", changes={"max_per_order": ["9" * 400]})
@given(sku=SKU_IN_PATH, changes=changes_to(PRODUCT_FIELDS))
def test_product_edit_form_survives_any_input(sqlite_app, staff_client, sku, changes):
    """A valid edit with some fields replaced, left out or repeated; it never touches stock or the ledger."""
    fields = {**VALID_EDIT, **changes}
    note(repr((sku, fields)))
    before, products_before = snapshot(sqlite_app), products_of(sqlite_app)
    response = staff_client.post(f"/staff/products/{path_segment(sku)}/edit", data=form(**fields))
    assert_clear_answer(response)
    assert response.status_code in (302, 400, 404, 422), response.status_code
    after, products_after = snapshot(sqlite_app), products_of(sqlite_app)
    assert {k: v for k, v in after.items() if k != "status"} == {
        k: v for k, v in before.items() if k != "status"
    }
    changed = {s for s in products_after if products_after[s] != products_before[s]}
    assert changed <= ({sku} if response.status_code == 302 else set())


@FUZZ
@example(changes={"sku": ["TEA"]})  # taken
@example(changes={"sku": ["T\x00"]})
@given(changes=changes_to({**PRODUCT_FIELDS, "sku": occurrences(SKUS), "initial_stock": occurrences(NUMBER)}))
def test_new_product_form_survives_any_input(sqlite_app, staff_client, changes):
    """A valid new product with some fields replaced: created whole (with one initial_stock row) or not at all."""
    fields = {**VALID_EDIT, "sku": ["NEW-1"], "initial_stock": ["7"], **changes}
    note(repr(fields))
    before, products_before = snapshot(sqlite_app), products_of(sqlite_app)
    response = staff_client.post("/staff/new-product", data=form(**fields))
    assert_clear_answer(response)
    assert response.status_code in (302, 400, 422), response.status_code
    after, products_after = snapshot(sqlite_app), products_of(sqlite_app)
    assert_ledger_balances(sqlite_app)
    if response.status_code != 302:
        assert (after, products_after) == (before, products_before)
        return
    [new] = set(products_after) - set(products_before)
    assert {s: products_after[s] for s in products_before} == products_before
    assert after["ledger"] - before["ledger"] == (1 if after["stock"][new] else 0)
    assert sqlite_app.test_client().get(f"/products/{path_segment(new)}").status_code == 200


# -- staff order list: status actions ------------------------------------------------------------


@pytest.fixture
def app_with_orders(sqlite_app):
    """Two confirmed orders and a draft, placed through the cart and the checkout page."""
    client = sqlite_app.test_client()
    for button, quantity in (("place", 1), ("save_draft", 2), ("place", 3)):
        response = checkout(client, {"TEA": quantity}, button=button)
        assert response.status_code == 302
    return sqlite_app


@FUZZ
@given(
    which=st.one_of(st.integers(min_value=0, max_value=2), SKUS),
    status=occurrences(TEXT),
    next_=occurrences(TEXT),
)
def test_order_status_action_survives_any_input(app_with_orders, staff_client, which, status, next_):
    before = snapshot(app_with_orders)
    number = sorted(before["orders"])[which] if isinstance(which, int) else which
    client = staff_client
    response = client.post(
        f"/staff/orders/{path_segment(number)}/status", data=form(status=status, next=next_)
    )
    assert_clear_answer(response)
    assert response.status_code in (302, 400, 404), response.status_code
    if response.status_code == 302:
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//"), location
    after = snapshot(app_with_orders)
    assert_ledger_balances(app_with_orders)
    changed = {n for n in after["orders"] if after["orders"][n] != before["orders"].get(n)}
    assert changed <= {number}
    if not changed:  # nothing moved: no stock, no ledger row either
        assert after == before
    else:
        assert response.status_code == 302 and after["orders"][number] in (status or [])


# -- staff stock table and movements.csv query parameters ---------------------------------------


QUERY = st.fixed_dictionaries(
    {},
    optional={
        "page": occurrences(NUMBER).filter(bool),
        "q": occurrences(TEXT).filter(bool),
        "sort": occurrences(TEXT).filter(bool),
        "dir": occurrences(TEXT).filter(bool),
        "low": occurrences(NUMBER).filter(bool),
        "status": occurrences(TEXT).filter(bool),
        "x": occurrences(VALUE).filter(bool),
    },
)
CSV_QUERY = st.dictionaries(
    st.sampled_from(["sku", "from", "to", "page"]),
    st.one_of(
        occurrences(VALUE).filter(bool),
        st.dates().map(lambda d: [d.isoformat()]),
        st.sampled_from(
            [
                ["2025-02-30"],
                ["2025-13-01"],
                ["20250101"],
                ["2025-01-01T10:00"],
                ["0001-01-01"],
                ["9999-12-31"],
                ["-2025-01-01"],
                ["TEA"],
                ["COFFEE"],
            ]
        ),
    ),
    max_size=4,
)


def query_string(params: dict) -> MultiDict:
    return MultiDict([(k, v) for k, values in params.items() for v in values])


@FUZZ
@given(
    path=st.sampled_from(["/staff/", "/staff/orders", "/staff/products/TEA", "/staff/new-product"]),
    params=QUERY,
)
def test_staff_pages_survive_any_query_parameters(sqlite_app, staff_client, path, params):
    client = staff_client
    before = snapshot(sqlite_app)
    note(repr((path, params)))  # Hypothesis shows notes of a failing example
    response = client.get(path, query_string=query_string(params))
    assert_clear_answer(response)
    has_nul = any("\x00" in key + value for key, values in params.items() for value in values)
    assert response.status_code == (400 if has_nul else 200), response.status_code
    assert snapshot(sqlite_app) == before


@FUZZ
@given(path=st.sampled_from(["/", "/products/TEA", "/cart", "/checkout"]), params=QUERY)
def test_storefront_pages_survive_any_query_parameters(checkout_app, path, params):
    client = checkout_app.test_client()
    fill_cart(client, {"TEA": 1})
    before = snapshot(checkout_app)
    note(repr((path, params)))
    response = client.get(path, query_string=query_string(params))
    assert_clear_answer(response)
    has_nul = any("\x00" in key + value for key, values in params.items() for value in values)
    assert response.status_code == (400 if has_nul else 200), response.status_code
    assert snapshot(checkout_app) == before


@FUZZ
@given(sku=SKUS)
def test_product_pages_survive_any_sku(checkout_app, sku):
    response = checkout_app.test_client().get(f"/products/{path_segment(sku)}")
    assert_clear_answer(response)
    assert response.status_code in (200, 400, 404), response.status_code


@FUZZ
@given(params=CSV_QUERY)
def test_movements_csv_survives_any_query_parameters(sqlite_app, staff_client, params):
    client = staff_client
    before = snapshot(sqlite_app)
    response = client.get("/staff/movements.csv", query_string=query_string(params))
    body = response.get_data(as_text=True)  # streamed: errors while streaming show up here
    assert response.status_code < 500 and "Traceback" not in body
    if response.status_code == 200:
        assert response.mimetype == "text/csv" and body.startswith("created_at,sku,")
    else:
        assert response.status_code in (400, 404) and response.mimetype == "text/html"
    assert snapshot(sqlite_app) == before


# -- NUL characters on PostgreSQL (which refuses them in text values) -----------------------------


@pytest.fixture
def postgresql_app(database_urls):
    yield from make_web_app(database_urls, "postgresql")


NUL_REQUESTS = [
    ("POST", "/checkout", {"customer_name": "Ada\x00", "customer_email": "ada@example.com", "place": "1"}),
    ("POST", "/checkout", {"customer_name": "Ada", "customer_email": "a\x00@example.com", "place": "1"}),
    ("POST", "/checkout", {"customer_name": "Ada", "customer_email": "ada@example.com", "pl\x00ace": "1"}),
    ("POST", "/cart/add", {"sku": "TEA\x00", "quantity": "1"}),
    ("POST", "/cart/add", {"sku": "TEA", "quantity": "1", "next": "/\x00"}),
    ("POST", "/cart", {"qty-1": "1\x00", "update": "1"}),
    ("POST", "/cart/remove", {"remove": "1\x00"}),
    ("GET", "/?q=te\x00a", None),
    ("GET", "/products/TEA\x00", None),
    ("GET", "/orders/A\x00B", None),
    ("POST", "/staff/products/TEA/adjust", {"delta": "5", "reason": "restock", "note": "box\x00"}),
    ("POST", "/staff/products/TEA/adjust", {"delta": "5", "reason": "restock\x00"}),
    ("POST", "/staff/products/TEA\x00/adjust", {"delta": "5", "reason": "restock"}),
    (
        "POST",
        "/staff/products/TEA/edit",
        {"name": "Tea\x00", "price": "1", "low_stock_threshold": "1", "status": "active"},
    ),
    (
        "POST",
        "/staff/products/T\x00EA/edit",
        {"name": "Tea", "price": "1", "low_stock_threshold": "1", "status": "active"},
    ),
    (
        "POST",
        "/staff/new-product",
        {"sku": "N\x00", "name": "N", "price": "1", "initial_stock": "1", "low_stock_threshold": "1"},
    ),
    (
        "POST",
        "/staff/new-product",
        {"sku": "N", "name": "N\x00", "price": "1", "initial_stock": "1", "low_stock_threshold": "1"},
    ),
    ("POST", "/staff/orders/A\x00B/status", {"status": "cancelled"}),
    ("GET", "/staff/products/TEA\x00", None),
    ("GET", "/staff/?q=te\x00a", None),
    ("GET", "/staff/movements.csv?sku=TEA\x00", None),
]


@pytest.mark.parametrize("method, path, data", NUL_REQUESTS, ids=range(len(NUL_REQUESTS)))
def test_a_nul_character_is_a_400_that_changes_nothing_on_postgresql(postgresql_app, method, path, data):
    client = staff_client_of(postgresql_app)
    fill_cart(client, {"TEA": 1})
    if path == "/checkout":
        data["order_token"] = order_token(client)
    before = snapshot(postgresql_app)
    response = client.open(path, method=method, data=data)
    assert response.status_code == 400, response.status_code
    assert "not allowed" in response.text
    assert snapshot(postgresql_app) == before


def test_a_nul_character_in_the_login_form_is_a_400_on_postgresql(postgresql_app):
    client = postgresql_app.test_client()
    response = client.post("/staff/login", data={"email": "staff\x00@example.com", "password": "x"})
    assert response.status_code == 400 and "not allowed" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/staff/?page=99999999999999999999",
        "/staff/orders?page=9223372036854775808",
        "/staff/products/TEA?page=1000000000000000000",
        "/?page=99999999999999999999",
        "/?q=tea&page=9223372036854775808",
    ],
)
def test_a_page_number_past_any_database_integer_is_an_empty_page(sqlite_app, staff_client, path):
    response = staff_client.get(path)
    assert response.status_code == 200
