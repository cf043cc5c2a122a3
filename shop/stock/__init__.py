"""The stock service: line checks, row locks, guarded decrements and the ledger.

- ``service``: the public functions every caller uses (re-exported here);
- ``rules``: the rules that need no database (limits, line, adjustment and transfer checks, shortages);
- ``allocation``: which locations an order's lines take their units from;
- ``moves``: how a change is written, step by step or in one PostgreSQL statement;
- ``statements``: the SQL, built once;
- ``journal``: the changes of the current transaction, reported after commit.

This module is the package's only door: code outside ``shop/stock/`` imports from ``shop.stock``,
never from its modules (``tests/test_imports.py`` holds it to that). See docs/architecture.md for
how an order reaches these functions.
"""

from .allocation import Strategy
from .journal import changes_of_transaction, discard_changes, pop_changes
from .moves import lock_rows
from .rules import (
    IS_ORDERABLE,
    MANUAL_REASONS,
    MAX_ADJUSTMENT,
    MAX_LINE_QUANTITY,
    MAX_LINES,
    STOCK_IS_LOW,
    Availability,
    StockChange,
    StockLevel,
    StockRow,
    availability,
    for_strangers,
    is_whole_number,
    limit_problems,
    order_limit,
    ordered_quantities,
    quantity_problem,
    stock_is_low,
    stock_problems,
    transfer_quantity_problem,
)
from .service import (
    Transfer,
    actor_of,
    adjust_stock,
    check_lines,
    record_initial_stock,
    return_stock,
    set_stock,
    take_stock,
    transfer_request_problems,
    transfer_stock,
    unknown_location,
)

__all__ = [
    "Availability",
    "IS_ORDERABLE",
    "MANUAL_REASONS",
    "MAX_ADJUSTMENT",
    "MAX_LINES",
    "MAX_LINE_QUANTITY",
    "STOCK_IS_LOW",
    "StockChange",
    "StockLevel",
    "StockRow",
    "Strategy",
    "Transfer",
    "actor_of",
    "adjust_stock",
    "availability",
    "changes_of_transaction",
    "check_lines",
    "discard_changes",
    "for_strangers",
    "is_whole_number",
    "limit_problems",
    "lock_rows",
    "order_limit",
    "ordered_quantities",
    "pop_changes",
    "quantity_problem",
    "record_initial_stock",
    "return_stock",
    "set_stock",
    "stock_is_low",
    "stock_problems",
    "take_stock",
    "transfer_quantity_problem",
    "transfer_request_problems",
    "transfer_stock",
    "unknown_location",
]
