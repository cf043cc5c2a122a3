"""Domain errors. Each carries ``.problems`` so every edge can report all of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Problem:
    """One reason an order or stock change was refused."""

    code: str
    message: str
    sku: str | None = None
    requested: int | None = None
    available: int | None = None
    limit: int | None = (
        None  # the per-order limit (``over_limit``) or the units one client may hold (``hold_limit``)
    )
    # A shortage's product's low-stock threshold: strangers see ``available`` only at or below it
    # (``shop.stock.for_strangers``). Not part of what a problem says (``as_dict``).
    low_stock_threshold: int | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict:
        said = asdict(self)
        del said["low_stock_threshold"]
        return said


class InventoryError(Exception):
    """Base of every refusal; the caller's transaction must be rolled back."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> InventoryError:
        """The most specific error for a list of line problems."""
        if all(p.code == "insufficient_stock" for p in problems):
            return InsufficientStock(problems)
        return OrderRejected(problems)


class OrderRejected(InventoryError):
    """An order's lines cannot be served (mixed or non-stock problems)."""


class InsufficientStock(OrderRejected):
    """Every problem is a shortage."""


class InvalidStatusTransition(InventoryError):
    """The order cannot move from its status to the requested one."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new
        super().__init__([Problem("invalid_transition", f"An order cannot go from {old} to {new}.")])


class OrderLocked(InventoryError):
    """The lines of an order that has taken stock cannot change."""

    def __init__(self, number: str, what: str = "its lines cannot be changed"):
        super().__init__(
            [Problem("order_locked", f"Order {number} has taken stock: {what}; cancel it instead.")]
        )


class InvalidProduct(InventoryError):
    """A product that cannot be created or changed as asked (SKU, name, price, limits, status)."""


class InvalidStockChange(InventoryError):
    """A manual stock adjustment or a transfer that cannot be applied as asked."""


class InvalidLocation(InventoryError):
    """A location that cannot be added or changed as asked (code, name, priority)."""


class PaymentRefused(InventoryError):
    """A payment notification that cannot pay its order; nothing is written."""

    def __init__(self, code: str, message: str):
        super().__init__([Problem(code, message)])

    @property
    def code(self) -> str:
        return self.problems[0].code


class InvalidWebhookEndpoint(InventoryError):
    """A webhook endpoint that cannot be saved as asked (URL, event types, description)."""
