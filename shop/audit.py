"""After-commit receivers: one structured log line per stock change, and low-stock notices."""

from __future__ import annotations

import logging

from flask import Flask

from . import signals
from .stock import StockChange

logger = logging.getLogger("shop.inventory")


def fields(change: StockChange) -> dict[str, object]:
    """A stock change's fields for a structured (JSON) log line."""
    return {
        "sku": change.sku,
        "delta": change.delta,
        "quantity_after": change.quantity_after,
        "reason": change.reason,
        "order": change.order_number,
        "actor": change.actor,
        "location": change.location,
    }


def log_stock_changes(app: Flask, changes: list[StockChange]) -> None:
    for c in changes:
        logger.info(
            "stock_change order=%s sku=%s delta=%+d quantity_after=%d reason=%s actor=%s location=%s",
            c.order_number or "-",
            c.sku,
            c.delta,
            c.quantity_after,
            c.reason,
            c.actor,
            c.location,
            extra=fields(c),
        )


def warn_low_stock(app: Flask, change: StockChange) -> None:
    """The product's ``on_hand`` went down and is at or below its threshold."""
    assert change.level is not None  # only a product's last row of a change is judged low
    logger.warning(
        "low_stock sku=%s quantity=%d threshold=%d",
        change.sku,
        change.level.after,
        change.low_stock_threshold,
        extra={**fields(change), "threshold": change.low_stock_threshold},
    )


def init_app(app: Flask) -> None:
    signals.stock_changed.connect(log_stock_changes, sender=app)
    signals.stock_low.connect(warn_low_stock, sender=app)
