"""Products: what staff may set on one (SKU, name, price, threshold, limit, status, initial stock) and
the services that create and edit them. The CLI import, the staff dashboard and ``PUT
/api/v1/products/{sku}`` all check a product through these rules, so they accept and refuse the same
values with the same messages.

Each rule returns a ``Problem`` (or None) whose ``code`` names the field it is about, so that a form
can put the message next to its field and the API can point at the member of its body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidProduct, Problem
from .extensions import DbSession
from .models import Inventory, Product, ProductStatus
from .search import with_stock
from .stock import MAX_ADJUSTMENT, MAX_LINE_QUANTITY, is_whole_number
from .text import is_readable_name

SKU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NAME_LENGTH = 200
MAX_PRICE_CENTS = 100_000_000  # €1,000,000.00
MAX_THRESHOLD = MAX_ADJUSTMENT
MAX_PER_ORDER = MAX_LINE_QUANTITY
MAX_INITIAL_STOCK = MAX_ADJUSTMENT
DEFAULT_THRESHOLD = 5

# Which field each problem code is about (forms and the API's JSON pointers use it).
FIELD_OF_CODE = {
    "invalid_sku": "sku",
    "duplicate_sku": "sku",
    "invalid_name": "name",
    "invalid_price": "price_cents",
    "invalid_threshold": "low_stock_threshold",
    "invalid_limit": "max_per_order",
    "invalid_status": "status",
    "invalid_stock": "initial_stock",
}


def sku_problem(sku: object) -> Problem | None:
    if isinstance(sku, str) and SKU_PATTERN.fullmatch(sku):
        return None
    return Problem(
        "invalid_sku",
        f"SKU {sku!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        sku=sku if isinstance(sku, str) else None,
    )


def name_problem(name: object) -> Problem | None:
    if is_readable_name(name, MAX_NAME_LENGTH):
        return None
    return Problem(
        "invalid_name", f"The name must be 1-{MAX_NAME_LENGTH} characters, without control characters."
    )


def price_problem(price_cents: object) -> Problem | None:
    if is_whole_number(price_cents) and 0 <= price_cents <= MAX_PRICE_CENTS:
        return None
    return Problem(
        "invalid_price",
        f"The price must be a whole number of cents from 0 to {MAX_PRICE_CENTS} (€{MAX_PRICE_CENTS // 100:,}), "
        f"not {price_cents!r}.",
    )


def threshold_problem(threshold: object) -> Problem | None:
    if is_whole_number(threshold) and 0 <= threshold <= MAX_THRESHOLD:
        return None
    return Problem(
        "invalid_threshold", f"The low-stock threshold must be a whole number from 0 to {MAX_THRESHOLD}."
    )


def limit_problem(max_per_order: object) -> Problem | None:
    if max_per_order is None or (is_whole_number(max_per_order) and 1 <= max_per_order <= MAX_PER_ORDER):
        return None
    return Problem(
        "invalid_limit",
        f"The limit per order must be a whole number from 1 to {MAX_PER_ORDER}, or empty for no limit.",
    )


def status_problem(status: object) -> Problem | None:
    if status in {s.value for s in ProductStatus}:
        return None
    return Problem("invalid_status", "The status must be one of: " + ", ".join(ProductStatus) + ".")


def stock_problem(quantity: object) -> Problem | None:
    if is_whole_number(quantity) and 0 <= quantity <= MAX_INITIAL_STOCK:
        return None
    return Problem(
        "invalid_stock",
        f"The stock must be a whole number from 0 to {MAX_INITIAL_STOCK}, not {quantity!r}.",
    )


@dataclass(frozen=True)
class ProductDetails:
    """What staff set on a product, stock excepted (stock changes only through adjustments)."""

    name: str
    price_cents: int
    low_stock_threshold: int = DEFAULT_THRESHOLD
    max_per_order: int | None = None
    status: str = ProductStatus.ACTIVE

    def problems(self) -> list[Problem]:
        checks = (
            name_problem(self.name),
            price_problem(self.price_cents),
            threshold_problem(self.low_stock_threshold),
            limit_problem(self.max_per_order),
            status_problem(self.status),
        )
        return [p for p in checks if p is not None]


def find_product(session: DbSession, sku: str) -> Product | None:
    """The product with exactly this SKU, with its stock (one statement); the lookup of every edge.

    ``products.sku`` is ``utf8mb4_bin`` on MariaDB (``models.exact_string``): case counts there, but
    the collation pads, so ``'TEA '`` would find ``TEA``. Only the comparison in Python is exact
    on every database.
    """
    product = session.scalars(with_stock().where(Product.sku == sku)).one_or_none()
    return product if product is not None and product.sku == sku else None


def new_product_problems(
    session: DbSession, sku: object, details: ProductDetails, initial_stock: object
) -> list[Problem]:
    """Every problem of creating ``sku`` with ``details`` and ``initial_stock`` units, the SKU's first."""
    problems = [p for p in (sku_problem(sku),) if p is not None]
    if not problems and isinstance(sku, str) and find_product(session, sku) is not None:
        problems.append(Problem("duplicate_sku", f"There is already a product {sku}.", sku=str(sku)))
    problems += details.problems()
    if (problem := stock_problem(initial_stock)) is not None:
        problems.append(problem)
    return problems


def create_product(session: DbSession, sku: str, details: ProductDetails, initial_stock: int) -> Product:
    """Add a product with its inventory row; ``initial_stock`` units are ledgered as ``initial_stock``.

    Raises ``InvalidProduct`` with every problem; nothing is written then. The caller commits.
    """
    problems = new_product_problems(session, sku, details, initial_stock)
    if problems:
        raise InvalidProduct(problems)
    product = Product(sku=sku, **_columns(details), inventory=Inventory(quantity=initial_stock))
    session.add(product)
    session.flush()  # the session hook writes the initial_stock ledger row and the search terms
    return product


def update_product(session: DbSession, product: Product, details: ProductDetails) -> None:
    """Set name, price, threshold, limit and status; raises ``InvalidProduct`` with every problem."""
    problems = details.problems()
    if problems:
        raise InvalidProduct([Problem(p.code, p.message, sku=product.sku) for p in problems])
    for column, value in _columns(details).items():
        setattr(product, column, value)
    session.flush()


def _columns(details: ProductDetails) -> dict:
    return {
        "name": details.name.strip(),
        "price_cents": details.price_cents,
        "low_stock_threshold": details.low_stock_threshold,
        "max_per_order": details.max_per_order,
        "status": details.status,
    }
