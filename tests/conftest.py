"""The root conftest: it loads the shared fixtures, which live in ``tests/support/``, and turns rate limits
and hoarding limits off.

See tests/README.md for where each fixture, factory and reader lives and how a new test gets
a database of each backend, a client or a staff login.
"""

import os
import secrets
import tempfile

import pytest

# A test client posts far more checkouts and log-ins a minute than any person: rate limits are
# off for the suite (the apps it creates and the gunicorn servers it starts inherit this), and
# the tests about them turn them on in their own app's configuration.
os.environ["RATELIMIT_ENABLED"] = "0"
# Likewise one address (the test client's) places more units in holds than any customer may
# (SHOP_MAX_HELD_UNITS), and tests order more than the shop's default per-order limit: both rules
# are off for the suite, and tests/test_hoarding.py and the tests of what customers see turn them on.
os.environ["SHOP_MAX_HELD_UNITS"] = "0"
os.environ["SHOP_DEFAULT_MAX_PER_ORDER"] = "0"

# Without a SECRET_KEY an app outside production writes a random one into its instance folder
# (instance/ of the repository): the suite's apps sign with this key of the run instead, and the
# tests of the key file (tests/test_config.py) take the variable away and use a folder of their own.
os.environ["SECRET_KEY"] = secrets.token_hex(32)

# The shop logs each request and each stock change at info level to standard error, which a CLI
# runner's output includes: the suite's apps log warnings and errors only, as the shop did before it
# logged at info level, and the tests of the logs (tests/test_logs.py) choose their own level.
os.environ["SHOP_LOG_LEVEL"] = "WARNING"

# Assertions in the support modules report their values like the tests' own; this must run
# before any of them is imported.
pytest.register_assert_rewrite("tests.support")

# Without MAIL_SERVER the shop writes each e-mail into SHOP_MAIL_DIR (instance/mail/ by default):
# the suite's go to a folder of the run, never into the repository.
os.environ["SHOP_MAIL_DIR"] = tempfile.mkdtemp(prefix="shop-mail-")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes():
    """argon2id at the shop's cost takes about 0.16 s a hash and as long a check, and most web tests
    make a staff account and log in: the suite's own apps hash with argon2-cffi's ``CHEAPEST``
    profile, made for tests (servers and commands the suite starts in processes of their own keep the
    real one). The test of rehashing weaker hashes puts the real hasher back."""
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from shop import passwords

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", PasswordHasher.from_parameters(CHEAPEST))
        yield


pytest_plugins = [
    "tests.support.databases",
    "tests.support.web",
    "tests.support.api",
    "tests.support.browser",
    "tests.support.receivers",
    "tests.support.outbox",
]
