"""The ledger as CSV: columns, filters and protection against formula injection."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta

# ``quantity_after`` is the stock at ``location`` after the row; ``location`` comes last, so that the
# columns of a ledger kept in one place stay where they were.
CSV_COLUMNS = (
    "created_at",
    "sku",
    "delta",
    "quantity_after",
    "reason",
    "actor",
    "order_number",
    "note",
    "location",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection"), also
# after spaces or line breaks, which it skips.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would take for a formula gets a leading ``'``; numbers stay numbers."""
    if isinstance(value, str) and (
        value.startswith(FORMULA_PREFIXES) or value.lstrip().startswith(FORMULA_PREFIXES)
    ):
        return "'" + value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return value


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The header, then one CSV line per row, produced one at a time for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(v) for v in row])
        yield buffer.getvalue()


def parse_day(value: str | None, name: str) -> date | None:
    """An ISO date (``2025-01-31``) from the query string; ValueError with a clear message if bad."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"'{name}' must be a date like 2025-01-31, not {value.strip()[:40]!r}.") from None


def day_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[start 00:00, the day after end 00:00): both days included."""
    if start and end and start > end:
        raise ValueError("'from' must not be after 'to'.")
    return (
        datetime.combine(start, time()) if start else None,
        datetime.combine(end + timedelta(days=1), time()) if end else None,
    )
