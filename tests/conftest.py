"""The root conftest: it only loads the shared fixtures, which live in ``tests/support/``.

See tests/README.md for where each fixture, factory and reader lives and how a new test gets
a database of each backend, a client or a staff login.
"""

import pytest

# Assertions in the support modules report their values like the tests' own; this must run
# before any of them is imported.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.support.databases",
    "tests.support.web",
    "tests.support.api",
    "tests.support.browser",
]
