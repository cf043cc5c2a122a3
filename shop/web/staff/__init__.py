"""Staff dashboard under ``/staff/``: stock, product ledgers, adjustments, orders, CSV export."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

from . import views  # noqa: E402,F401  (registers the routes on ``bp``)
