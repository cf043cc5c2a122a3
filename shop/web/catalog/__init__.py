"""Customers: the catalog with its checkout form, and the order page."""

from flask import Blueprint

from ..inputs import refuse_nul_characters

bp = Blueprint("catalog", __name__)
bp.before_request(refuse_nul_characters)

from . import views  # noqa: E402,F401  (registers the routes on ``bp``)
