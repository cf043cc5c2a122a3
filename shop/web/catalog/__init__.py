"""Customers: the catalog with its checkout form, and the order page."""

from .views import bp

__all__ = ["bp"]
