"""Entry point for ``flask --app app`` and WSGI servers."""

from shop import create_app

app = create_app()
