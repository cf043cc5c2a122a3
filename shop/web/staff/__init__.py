"""Staff dashboard under ``/staff/``: stock, product ledgers, adjustments, orders, CSV export."""

from .views import bp

__all__ = ["bp"]
