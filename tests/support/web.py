"""The web UI through Flask's test client: an isolated client, a staff login, the cart and checkout, flashes.

Fixtures: ``staff`` (a staff user with a password), ``staff_client`` (the ``client``, logged in as
them through the login form) and ``sqlite_app`` (``make_web_app`` on SQLite). ``tests/web/conftest.py``
turns CSRF off for the tests there and makes their ``client`` an ``IsolatedClient``.
"""

from __future__ import annotations

import contextvars
import html
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from shop.extensions import db
from shop.models import Product, User
from tests.support.databases import make_app
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, add_product, make_user

TOKEN = re.compile(r'name="order_token" type="hidden" value="([^"]+)"')


class IsolatedClient(FlaskClient):
    """A test client whose requests run as in production, each in its own app context.

    Flask reuses an app context that is already pushed (the ``session`` fixture pushes one),
    which would share ``g`` (Flask-Login's cached user) and the database session between the
    test and every request it makes.
    """

    def open(self, *args, **kwargs):
        context = contextvars.Context()
        response = context.run(super().open, *args, **kwargs)
        if response.is_streamed:  # the body is produced later, in the request's context too
            response.response = _run_in(context, response.response)
        return response


def _run_in(context, iterable):
    iterator = iter(iterable)
    try:
        while True:
            try:
                yield context.run(next, iterator)
            except StopIteration:
                return
    finally:
        if hasattr(iterable, "close"):
            context.run(iterable.close)


@pytest.fixture
def staff(session) -> User:
    return make_user(session)


def log_in(client, email=STAFF_EMAIL, password=STAFF_PASSWORD, **data):
    return client.post("/staff/login", data={"email": email, "password": password, **data})


@pytest.fixture
def staff_client(client, staff):
    """A client logged in as a staff member through the login form."""
    response = log_in(client)
    assert response.status_code == 302, response.text
    return client


def product_ids(client, skus) -> dict[str, int]:
    """SKU → product id, read in an app context of its own (its transaction rolled back)."""
    with client.application.app_context():
        try:
            return dict(
                db.session.execute(select(Product.sku, Product.id).where(Product.sku.in_(list(skus)))).all()
            )
        finally:
            db.session.remove()


def fill_cart(client, quantities: dict[str, int]) -> None:
    """Make the client's cart hold exactly these (SKU, quantity) lines, as earlier visits would have left it.

    Any product goes in, even one that cannot be ordered now (its status changed since it was
    added); "Add to cart" itself is tested through the form (``add_to_cart``).
    """
    ids = product_ids(client, quantities)
    assert set(ids) == set(quantities), f"no such products: {set(quantities) - set(ids)}"
    with client.session_transaction() as session:
        session["cart"] = [[ids[sku], quantity] for sku, quantity in quantities.items()]


def add_to_cart(client, sku: str, quantity: object = 1, **data):
    """Submit a product's "Add to cart" form."""
    return client.post("/cart/add", data={"sku": sku, "quantity": str(quantity), **data})


def cart_of(client) -> list | None:
    """What the client's session holds as its cart (``[[product id, quantity], ...]``)."""
    with client.session_transaction() as session:
        return session.get("cart")


def order_token(client) -> str:
    """The signed order number of a freshly rendered checkout page (the cart must not be empty)."""
    page = client.get("/checkout")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    return TOKEN.search(page.text).group(1)


def checkout(
    client,
    quantities: dict[str, int] | None = None,
    *,
    token=None,
    button="place",
    name="Ada Lovelace",
    email="ada@example.com",
    follow=False,
):
    """Check out as a browser would: ``quantities`` (if given) become the cart, then the checkout page is sent."""
    if quantities is not None:
        fill_cart(client, quantities)
    data = {
        "customer_name": name,
        "customer_email": email,
        "order_token": token or order_token(client),
        button: "1",
    }
    return client.post("/checkout", data=data, follow_redirects=follow)


def form_fields(page: str, action: str) -> dict[str, str]:
    """The values a browser would send for the form posting to ``action`` (inputs, selects; no buttons)."""
    start = page.index(f'action="{action}"')
    form = page[start : page.index("</form>", start)]
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and 'type="submit"' not in tag:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        fields[name] = re.search(r'<option selected value="([^"]*)"', options).group(1)
    return fields


def edit_product(client, sku: str, **changes):
    """Change some of a product's details through its staff page's form (the rest as they are)."""
    action = f"/staff/products/{sku}/edit"
    data = {**form_fields(client.get(f"/staff/products/{sku}").text, action), **changes}
    return client.post(action, data=data)


def flashes(page: str) -> str:
    """The text of the flash messages of a page, whitespace collapsed."""
    found = re.search(r'<div class="flashes">(.*?)</div>\s*</div>\s*</div>', page, re.S)
    if not found:
        return ""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


# -- a whole shop of its own (the reliability tests pick their backends themselves) ---------------


def make_web_app(database_urls, backend: str, *, csrf: bool = False):
    """Yield an app on a migrated ``backend`` database holding two stocked products and a staff user."""
    for app in make_app(database_urls(backend)):
        app.config["WTF_CSRF_ENABLED"] = csrf
        app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash must show up as the 500 a user would get
        app.test_client_class = IsolatedClient
        with app.app_context():
            add_product(db.session, "TEA", 50)
            add_product(db.session, "COFFEE", 5, threshold=10)
            make_user(db.session)
            db.session.remove()
        yield app


def staff_client_of(app):
    """A client of ``app`` logged in as the staff user of ``make_web_app``."""
    client = app.test_client()
    response = log_in(client)
    assert response.status_code == 302, response.text
    return client


@pytest.fixture
def sqlite_app(database_urls):
    """``make_web_app`` on SQLite."""
    yield from make_web_app(database_urls, "sqlite")
