"""Request guards shared by the HTML blueprints."""

from __future__ import annotations

from flask import abort, request

NUL = "\x00"


def refuse_nul_characters():
    """``before_request``: a NUL character anywhere in the path, query or form is a 400.

    No form field or parameter of the web UI can legitimately hold one, and PostgreSQL
    refuses NUL in text values, so letting it through would end in a 500 there.
    """
    pairs = list(request.args.items(multi=True))  # every value of a repeated parameter too
    if request.method == "POST":
        pairs += request.form.items(multi=True)
    if NUL in request.path or any(NUL in key or NUL in value for key, value in pairs):
        abort(
            400,
            description="The request contains a character that is not allowed (NUL). "
            "Please check what you typed and try again.",
        )
