"""The JSON API under ``/api/v1`` (see docs/api.md): one blueprint, its tables and CLI commands."""

from __future__ import annotations

from flask import Flask

__all__ = ["register_api"]


def register_api(app: Flask) -> None:
    """Register the API blueprint, its error handling, its tables and ``flask staff token`` commands."""
    from ..extensions import csrf
    from . import cli, integrations, models, problems  # noqa: F401 - models, commands, routes register on import
    from .views import bp

    csrf.exempt(bp)  # bearer tokens, not cookies: no CSRF exposure
    app.register_blueprint(bp)
    problems.init_app(app)
    app.cli.add_command(cli.api_cli)  # flask api purge-keys
