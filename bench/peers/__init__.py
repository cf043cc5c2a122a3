"""Peers of the shop for `make bench`: django-oscar and a plain Flask port, placing the same orders."""
