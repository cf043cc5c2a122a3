"""django-oscar as a peer: a minimal Django project (settings, manage.py), its checkout, its rows."""
