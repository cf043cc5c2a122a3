"""The plain Flask port of the requirement (app.py) and its rows (row.py)."""
