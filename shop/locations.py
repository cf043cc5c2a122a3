"""Locations: the places that keep stock, the rules of adding and editing one, and how they are found.

Every stock row and ledger row is at a location. Orders take stock at active locations that fulfil
orders (``Location.serves_orders``), and a product's ``on_hand`` counts only those; which of them
an order's lines come from is ``shop.stock.allocation``'s rule (``SHOP_ALLOCATION``). Stock written
without a location goes to the default one (``SHOP_DEFAULT_LOCATION``, ``main``).
"""

from __future__ import annotations

import re

from sqlalchemy import select

from .errors import InvalidLocation, InvalidStockChange, Problem
from .extensions import DbSession
from .models import DEFAULT_LOCATION, Location, default_location_code
from .text import is_readable_name

__all__ = [
    "DEFAULT_LOCATION",
    "add_location",
    "all_locations",
    "default_location_code",
    "edit_location",
    "find_location",
    "location_named",
]

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
MAX_NAME_LENGTH = 200
MAX_PRIORITY = 1_000_000


def code_problem(code: object) -> Problem | None:
    if isinstance(code, str) and CODE_PATTERN.fullmatch(code):
        return None
    return Problem(
        "invalid_location_code",
        f"Location code {code!r} must be 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit.",
    )


def name_problem(name: object) -> Problem | None:
    if is_readable_name(name, MAX_NAME_LENGTH):
        return None
    return Problem(
        "invalid_location_name",
        f"The name must be 1-{MAX_NAME_LENGTH} characters, without control characters.",
    )


def priority_problem(priority: object) -> Problem | None:
    if isinstance(priority, int) and not isinstance(priority, bool) and abs(priority) <= MAX_PRIORITY:
        return None
    return Problem(
        "invalid_priority", f"The priority must be a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}."
    )


def find_location(session: DbSession, code: str) -> Location | None:
    """The location with exactly this code (MariaDB's binary collation still pads: compared again here)."""
    location = session.scalar(select(Location).where(Location.code == code))
    return location if location is not None and location.code == code else None


def location_named(session: DbSession, code: str | None) -> Location:
    """The location ``code`` (None: the default location), or ``InvalidStockChange`` (``unknown_location``)."""
    code = default_location_code() if code is None else code
    location = find_location(session, code)
    if location is None:
        raise InvalidStockChange([Problem("unknown_location", f"There is no location {code}.")])
    return location


def all_locations(session: DbSession) -> list[Location]:
    """Every location, in the order orders try them: priority, then code."""
    return list(session.scalars(select(Location).order_by(Location.priority, Location.code)))


def add_location(
    session: DbSession,
    code: str,
    name: str,
    *,
    priority: int = 0,
    fulfils_orders: bool = True,
    active: bool = True,
) -> Location:
    """A new location; ``InvalidLocation`` lists every problem (code, name, priority, a code in use)."""
    problems = [p for p in (code_problem(code), name_problem(name), priority_problem(priority)) if p]
    if not problems and find_location(session, code) is not None:
        problems.append(Problem("duplicate_location", f"There is already a location {code}."))
    if problems:
        raise InvalidLocation(problems)
    location = Location(
        code=code, name=name.strip(), priority=priority, fulfils_orders=fulfils_orders, active=active
    )
    session.add(location)
    session.flush()
    return location


def edit_location(
    session: DbSession,
    location: Location,
    *,
    name: str | None = None,
    priority: int | None = None,
    fulfils_orders: bool | None = None,
    active: bool | None = None,
) -> Location:
    """Change what is given of a location (its code stays); ``InvalidLocation`` lists every problem."""
    problems = [
        p
        for p in (
            name_problem(name) if name is not None else None,
            priority_problem(priority) if priority is not None else None,
        )
        if p
    ]
    if problems:
        raise InvalidLocation(problems)
    if name is not None:
        location.name = name.strip()
    if priority is not None:
        location.priority = priority
    if fulfils_orders is not None:
        location.fulfils_orders = fulfils_orders
    if active is not None:
        location.active = active
    session.flush()
    return location
