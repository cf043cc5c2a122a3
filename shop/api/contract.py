"""Where the JSON API lives and how much it takes at once: read by its routes and its OpenAPI document alike."""

from __future__ import annotations

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024  # a larger API request body is refused (413)
MAX_PAGE = 1_000_000  # far past any real page; keeps the SQL OFFSET small
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


def is_api_path(path: str) -> bool:
    """``path`` is under the API prefix: its errors are problem documents, never HTML pages."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")
