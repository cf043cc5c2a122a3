"""Customers: the catalog with its checkout form, and the order page."""

from flask import Blueprint

bp = Blueprint("catalog", __name__)

from . import views  # noqa: E402,F401  (registers the routes on ``bp``)
