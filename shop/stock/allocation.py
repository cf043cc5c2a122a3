"""Where an order's units come from, when several locations keep them: the allocation rule.

Decided under the row locks, on the stock as locked, after the order's shortages were judged
against each product's ``on_hand`` (so every line can be served):

1. the whole order from one place, if one can: the first location by (``priority``, ``code``)
   that has every product's whole quantity;
2. otherwise line by line, in the order's order, by ``SHOP_ALLOCATION``: ``priority`` (lowest
   first) or ``most_stock`` (the most units of the line's product first); ties by code. A line
   comes from the first location that has all of it, and is split over several, in that same
   order, only when none has.

Only active locations that fulfil orders are offered (``places``). The same stock, lines and
strategy give the same allocations, whatever the database or the order the rows were read in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import NamedTuple

from flask import current_app, has_app_context


class Strategy(StrEnum):
    """``SHOP_ALLOCATION``: how a line is placed when no location can serve the whole order."""

    PRIORITY = "priority"
    MOST_STOCK = "most_stock"


def configured_strategy() -> str:
    """``SHOP_ALLOCATION`` of the app (``priority`` outside one)."""
    return (
        current_app.config.get("SHOP_ALLOCATION", Strategy.PRIORITY)
        if has_app_context()
        else Strategy.PRIORITY
    )


class Place(NamedTuple):
    """A location orders may take stock from."""

    id: int
    code: str
    priority: int


class Line(NamedTuple):
    """One order line to allocate."""

    item_id: int
    product_id: int
    quantity: int


class Allocation(NamedTuple):
    """Units of one line taken at one location (an ``order_item_allocations`` row)."""

    item_id: int
    product_id: int
    location_id: int
    quantity: int


Stock = Mapping[tuple[int, int], int]  # (product id, location id) → units there


def by_priority(places: Iterable[Place]) -> list[Place]:
    """Places in the order the whole-order rule and ``priority`` try them: priority, then code."""
    return sorted(places, key=lambda place: (place.priority, place.code))


def whole_order_place(lines: Iterable[Line], stock: Stock, places: Sequence[Place]) -> Place | None:
    """The first place (``places`` in priority order) that has every product's whole quantity."""
    wanted: dict[int, int] = {}
    for line in lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    for place in places:
        if all(stock.get((pid, place.id), 0) >= quantity for pid, quantity in wanted.items()):
            return place
    return None


def _ranked(product_id: int, left: Stock, places: Sequence[Place], strategy: str) -> Sequence[Place]:
    """The places to try for a line of ``product_id``, best first."""
    if strategy == Strategy.MOST_STOCK:
        return sorted(places, key=lambda place: (-left.get((product_id, place.id), 0), place.code))
    return places


def _allocate_line(line: Line, left: dict[tuple[int, int], int], places: Sequence[Place], strategy: str):
    """One line's allocations, taken out of ``left``: from one place if one has it all, else split."""
    ranked = _ranked(line.product_id, left, places, strategy)
    whole = next((p for p in ranked if left.get((line.product_id, p.id), 0) >= line.quantity), None)
    sources = [whole] if whole is not None else ranked
    allocations, needed = [], line.quantity
    for place in sources:
        key = (line.product_id, place.id)
        taken = min(needed, left.get(key, 0))
        if taken:
            left[key] -= taken
            needed -= taken
            allocations.append(Allocation(line.item_id, line.product_id, place.id, taken))
        if not needed:
            return allocations
    raise ValueError(f"product #{line.product_id}: {needed} of {line.quantity} units have no place")


def allocate(lines: Sequence[Line], stock: Stock, places: Iterable[Place], strategy: str) -> list[Allocation]:
    """Where each line's units come from (see the module's rule); the caller has checked every shortage."""
    ordered = by_priority(places)
    whole = whole_order_place(lines, stock, ordered)
    if whole is not None:
        return [Allocation(line.item_id, line.product_id, whole.id, line.quantity) for line in lines]
    left = dict(stock)
    return [allocation for line in lines for allocation in _allocate_line(line, left, ordered, strategy)]


def deltas_of(allocations: Iterable[Allocation]) -> dict[tuple[int, int], int]:
    """The change of stock the allocations make at each (product id, location id): minus what they take."""
    deltas: dict[tuple[int, int], int] = {}
    for allocation in allocations:
        key = (allocation.product_id, allocation.location_id)
        deltas[key] = deltas.get(key, 0) - allocation.quantity
    return deltas
