"""The cart: up to ``MAX_CART_LINES`` lines of (product id, quantity) in the Flask session.

Product ids, not SKUs, keep the cookie small: a hundred lines of 64-character SKUs would pass the
4 KB a browser keeps of a cookie, and it would silently drop the whole session. The cookie is
signed, so a visitor cannot edit it; but a cart written by an older version, by a bug, or a cookie
signed with a key that has since changed can still hold something this code does not accept. Such
a cart is dropped with a message, never a 500 (``load_cart``).

What a cart line would get right now (``cart_lines``) is read without locks, from the same rules as
checkout (``shop.stock``): checkout, in one locked transaction, has the last word.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, flash, g, request, session

from ...errors import Problem
from ...extensions import DbSession
from ...models import Product
from ...search import with_stock
from ...stock import MAX_LINE_QUANTITY, StockRow, is_whole_number, limit_problems, stock_problems

CART_KEY = "cart"
MAX_CART_LINES = 100
MAX_PRODUCT_ID = 2**31 - 1  # the id column is a 32-bit integer on every database
DROPPED_MESSAGE = "We couldn't read your cart, so it was emptied. Sorry! Please add your products again."
UNREADABLE_SESSION_MESSAGE = (
    "Your session had expired or could not be read, so your cart starts empty. "
    "Please add your products again."
)

Cart = dict[int, int]  # product id → quantity, in the order the products were added


class BadCart(ValueError):
    """The session holds something that is not a cart of at most ``MAX_CART_LINES`` valid lines."""


def parse_cart(raw: object) -> Cart:
    """The cart stored as ``[[product_id, quantity], ...]``; raises ``BadCart`` for anything else."""
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) > MAX_CART_LINES:
        raise BadCart("not a list of at most 100 lines")
    cart: Cart = {}
    for line in raw:
        if not isinstance(line, list) or len(line) != 2 or not all(is_whole_number(v) for v in line):
            raise BadCart(f"not a [product id, quantity] pair: {line!r:.50}")
        product_id, quantity = line
        if not 1 <= product_id <= MAX_PRODUCT_ID or not 1 <= quantity <= MAX_LINE_QUANTITY:
            raise BadCart(f"out of range: {line!r}")
        if product_id in cart:
            raise BadCart(f"product {product_id} twice")
        cart[product_id] = quantity
    return cart


def _cookie_was_unreadable() -> bool:
    """A session cookie came with the request but gave an empty session: forged, expired or from an old key.

    Flask never sends an empty session, so a cookie that decodes to one was not accepted.
    """
    return not session and bool(request.cookies.get(current_app.config["SESSION_COOKIE_NAME"]))


def load_cart() -> Cart:
    """The visitor's cart (kept on ``g`` for the request); a bad one is dropped with a message."""
    if "cart" in g:
        return g.cart
    try:
        cart = parse_cart(session.get(CART_KEY))
    except BadCart as exc:
        current_app.logger.warning("dropped a bad cart: %s", exc)
        session.pop(CART_KEY, None)
        flash(DROPPED_MESSAGE, "error")
        cart = {}
    else:
        if _cookie_was_unreadable():
            flash(UNREADABLE_SESSION_MESSAGE, "info")
    g.cart = cart
    return cart


def save_cart(cart: Cart) -> None:
    g.cart = cart
    if cart:
        session[CART_KEY] = [[product_id, quantity] for product_id, quantity in cart.items()]
    else:
        session.pop(CART_KEY, None)


def item_count() -> int:
    """Units in the cart, for the header badge (0 for a cart that cannot be read; never raises)."""
    try:
        cart = g.cart if "cart" in g else parse_cart(session.get(CART_KEY))
    except BadCart:
        return 0
    return sum(cart.values())


# -- changing the cart -------------------------------------------------------------------------


class CartRefused(ValueError):
    """The cart cannot take what was asked; the message says why."""


def add(cart: Cart, product_id: int, quantity: int) -> Cart:
    """``cart`` with ``quantity`` more of the product (a new line at the end if it is not there yet)."""
    if product_id in cart:
        total = cart[product_id] + quantity
        if total > MAX_LINE_QUANTITY:
            raise CartRefused(
                f"You can have at most {MAX_LINE_QUANTITY} of one product in your cart "
                f"(you have {cart[product_id]} already)."
            )
        return {**cart, product_id: total}
    if len(cart) >= MAX_CART_LINES:
        raise CartRefused(
            f"Your cart is full: it holds at most {MAX_CART_LINES} different products. "
            "Check out or remove some first."
        )
    return {**cart, product_id: quantity}


def with_quantities(cart: Cart, quantities: dict[int, int]) -> Cart:
    """``cart`` with new quantities for some of its lines; 0 removes a line. Other ids are ignored."""
    updated = {pid: quantities.get(pid, quantity) for pid, quantity in cart.items()}
    return {pid: quantity for pid, quantity in updated.items() if quantity > 0}


def without(cart: Cart, product_id: int) -> Cart:
    return {pid: quantity for pid, quantity in cart.items() if pid != product_id}


# -- what the cart holds, read without locks ---------------------------------------------------


@dataclass
class CartLine:
    product_id: int
    quantity: int
    product: Product | None  # None: the product no longer exists
    problems: list[Problem] = field(default_factory=list)

    @property
    def line_total_cents(self) -> int:
        return self.quantity * self.product.price_cents if self.product is not None else 0

    @property
    def sku(self) -> str | None:
        return self.product.sku if self.product is not None else None


def cart_lines(session_: DbSession, cart: Cart) -> list[CartLine]:
    """The cart's lines with their products and what would stop each one right now (one statement).

    Nothing is locked: stock may change before checkout, which checks everything again under locks.
    """
    if not cart:
        return []
    found = {p.id: p for p in session_.scalars(with_stock().where(Product.id.in_(list(cart))))}
    rows = {pid: StockRow(p.sku, p.status, p.low_stock_threshold, p.on_hand) for pid, p in found.items()}
    known = {pid: quantity for pid, quantity in cart.items() if pid in found}
    problems = stock_problems(known, rows) + limit_problems(known, found)
    lines = []
    for pid, quantity in cart.items():
        product = found.get(pid)
        line = CartLine(pid, quantity, product)
        if product is None:
            line.problems.append(
                Problem("unknown_product", "This product is no longer sold.", requested=quantity)
            )
        else:
            line.problems = [p for p in problems if p.sku == product.sku]
        lines.append(line)
    return lines
