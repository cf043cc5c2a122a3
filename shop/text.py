"""Rules on text that more than one kind of thing follows."""

from __future__ import annotations

import unicodedata


def is_readable_name(value: object, max_length: int) -> bool:
    """A name to show people: text that is not blank, at most ``max_length`` characters, without control
    characters or lone surrogates (which no database stores the same way)."""
    return (
        isinstance(value, str)
        and bool(value.strip())
        and len(value) <= max_length
        and not any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
    )
