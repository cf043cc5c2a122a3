"""The stock service: line checks, row locks, guarded decrements and the ledger.

- ``service``: the public functions every caller uses (re-exported here);
- ``rules``: the rules that need no database (limits, line and adjustment checks, shortages);
- ``moves``: how a change is written, step by step or in one PostgreSQL statement;
- ``statements``: the SQL, built once;
- ``journal``: the changes of the current transaction, reported after commit.

See docs/architecture.md for how an order reaches these functions.
"""

from .moves import lock_rows
from .rules import (
    MANUAL_REASONS,
    MAX_ADJUSTMENT,
    MAX_LINE_QUANTITY,
    MAX_LINES,
    STOCK_IS_LOW,
    Availability,
    StockChange,
    StockRow,
    availability,
    ordered_quantities,
    quantity_problem,
    stock_is_low,
)
from .service import (
    actor_of,
    adjust_stock,
    check_lines,
    record_initial_stock,
    return_stock,
    set_stock,
    take_stock,
)

__all__ = [
    "Availability",
    "MANUAL_REASONS",
    "MAX_ADJUSTMENT",
    "MAX_LINES",
    "MAX_LINE_QUANTITY",
    "STOCK_IS_LOW",
    "StockChange",
    "StockRow",
    "actor_of",
    "adjust_stock",
    "availability",
    "check_lines",
    "lock_rows",
    "ordered_quantities",
    "quantity_problem",
    "record_initial_stock",
    "return_stock",
    "set_stock",
    "stock_is_low",
    "take_stock",
]
