"""What the tests share: fixtures, factories and readers (tests/README.md says which module holds what).

The modules with fixtures are plugins, loaded by ``pytest_plugins`` in ``tests/conftest.py``; a
test asks for their fixtures by name. Everything else is imported by name from its module.
"""
