"""Staff dashboard under ``/staff/``: stock, product ledgers, adjustments, orders, CSV export, integrations."""

from . import integrations  # noqa: F401 - registers the Integrations page's routes on bp
from .views import bp

__all__ = ["bp"]
