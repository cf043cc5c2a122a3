"""Staff dashboard under ``/staff/``: stock, product ledgers, adjustments, orders, CSV export."""

from flask import Blueprint

from ..inputs import refuse_nul_characters

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.before_request(refuse_nul_characters)

from . import views  # noqa: E402,F401  (registers the routes on ``bp``)
