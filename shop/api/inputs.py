"""What an API request brings: its JSON body, validated; its paging arguments; its Idempotency-Key.

Each reader answers bad input with an ``ApiError`` (a 4xx problem) and never touches the database.
Its limits are in ``shop.api.contract``, which the OpenAPI document reads too.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from .contract import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from .problems import ApiError
from .schemas import validation_problems

M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as in the OpenAPI document
MAX_WHOLE_DIGITS = 18  # past every maximum the API takes: larger numbers stay floats and are refused


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _number(text: str) -> int | float:
    """A JSON number with a fraction or an exponent: the integer it is if whole (JSON Schema counts
    ``2.0`` as an integer), exactly (``Decimal``, not a rounded float)."""
    value = Decimal(text)
    if value.adjusted() < MAX_WHOLE_DIGITS and value == value.to_integral_value():
        return int(value)
    return float(text)


def read_json() -> Any:
    """The request body as JSON, whole numbers as integers: 415 unless JSON, 413 if too large, 400 if malformed."""
    if not request.is_json:
        raise ApiError(415, "Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=True)  # raises 413 past the limit
    if not raw.strip():
        raise ApiError(400, "The request body is empty; send a JSON object.", code="malformed_json")
    try:
        return json.loads(raw, parse_float=_number, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiError(400, f"The request body is not valid JSON: {reason}.", code="malformed_json") from None


def validate(model: type[M], data: Any) -> M:
    """``data`` as a ``model``, or a 422 problem listing every validation error with its pointer."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, data)
        raise ApiError(
            422,
            f"The request body is not valid: {len(problems)} problem(s).",
            code="invalid_request",
            problems=problems,
        ) from None


def page_args() -> tuple[int, int]:
    """``page`` and ``per_page`` from the query string (defaults 1 and 20), or a 400 problem."""

    def number(name: str, default: int, maximum: int) -> int:
        value = request.args.get(name)
        if value is None:
            return default
        if not re.fullmatch(r"[0-9]{1,7}", value) or not 1 <= int(value) <= maximum:
            raise ApiError(
                400, f"{name} must be a whole number from 1 to {maximum}.", code="invalid_parameter"
            )
        return int(value)

    return number("page", 1, MAX_PAGE), number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)


def idempotency_key() -> str:
    """The request's ``Idempotency-Key`` header, or a 400 problem when it is missing or malformed."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ApiError(
            400,
            "Creating an order needs an Idempotency-Key header (a unique value per order, "
            "reused when retrying).",
            code="missing_idempotency_key",
        )
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400,
            "The Idempotency-Key must be 1 to 255 visible ASCII characters.",
            code="invalid_idempotency_key",
        )
    return key


def clean_path_value(value: str, max_length: int) -> bool:
    """Whether a path value can name a row at all: not empty, not too long, no control characters."""
    return 0 < len(value) <= max_length and not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
