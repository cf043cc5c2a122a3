"""The low-stock rule: one function, and its SQL form that filters on it, agreeing on every database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.models import Inventory, Product
from shop.stock import STOCK_IS_LOW, Availability, StockChange, StockLevel, availability, stock_is_low
from tests.support.factories import add_product


@pytest.mark.parametrize(
    "quantity, threshold, low",
    [(4, 3, False), (3, 3, True), (1, 3, True), (0, 3, True), (0, 0, True), (None, 3, False)],
)
def test_stock_is_low_at_or_below_the_threshold_when_stocked(quantity, threshold, low):
    assert stock_is_low(quantity, threshold) is low


def test_the_badge_and_the_notice_follow_the_same_rule():
    assert availability("active", 3, 3) is Availability.LOW_STOCK
    assert availability("active", 4, 3) is Availability.IN_STOCK

    def change(on_hand_after: int) -> StockChange:
        """A sale of one unit at main, leaving the product's on_hand at ``on_hand_after`` (threshold 3)."""
        level = StockLevel(on_hand_after + 1, on_hand_after)
        return StockChange(
            1, "TEA", "main", -1, on_hand_after, "order_placed", "test", None, None, 3, 1, level
        )

    assert change(3).is_low and not change(4).is_low


def test_the_sql_form_finds_exactly_the_products_the_rule_calls_low(session):
    for sku, quantity, threshold in [
        ("ABOVE", 4, 3),
        ("AT", 3, 3),
        ("BELOW", 1, 3),
        ("ZERO", 0, 0),
        ("BARE", None, 3),
    ]:
        add_product(session, sku, quantity, threshold=threshold)
    session.commit()
    in_sql = set(session.scalars(select(Product.sku).outerjoin(Inventory).where(STOCK_IS_LOW)))
    by_rule = {
        p.sku
        for p in session.scalars(select(Product))
        if stock_is_low(p.inventory.quantity if p.inventory else None, p.low_stock_threshold)
    }
    assert in_sql == by_rule == {"AT", "BELOW", "ZERO"}
