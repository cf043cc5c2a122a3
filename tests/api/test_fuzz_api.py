"""Schemathesis fuzzes every operation of the live OpenAPI document, in process, on SQLite.

Its cases come from the document served at /api/v1/openapi.json (its examples, its boundary
"coverage" cases, valid and invalid ones, then random ones), a bounded number per operation and
derandomized, so a run is repeatable and short. Every response must: not be a 5xx; have a status,
content type, headers and body that the document allows for the operation; and answer data that
breaks the document with a 4xx.
"""

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from flask_migrate import upgrade
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shop import create_app
from shop.api.openapi import ORDER_NUMBER_EXAMPLE as EXAMPLE_ORDER
from shop.demo import seed_demo_catalog
from shop.extensions import db
from shop.orders import place_order
from tests.support.factories import make_staff

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# The app exists at import time because Schemathesis reads the document while pytest collects
# (its fixture-based loader does not work with pytest 9). Its SQLite file is only created, migrated
# and seeded by the ``fuzz_token`` fixture, and removed after the module.
DATABASE = Path(tempfile.gettempdir()) / f"shop-fuzz-{os.getpid()}.sqlite"
FUZZ_APP = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{DATABASE}"})
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", FUZZ_APP)


@pytest.fixture(scope="module")
def fuzz_token():
    """A migrated database with the documented SKU and order number, and a staff token: the
    documented examples hit real rows and staff endpoints get past authentication."""
    remove_database()
    with FUZZ_APP.app_context():
        upgrade()
        seed_demo_catalog(db.session)  # every product status; the documented SKU is in it
        place_order(
            db.session,
            [("TEA-SENCHA", 1)],
            status="draft",
            customer_name="Ada",
            customer_email="ada@example.com",
            number=EXAMPLE_ORDER,
        )
        token = make_staff(db.session, "fuzz@example.com")[1]
    yield token
    with FUZZ_APP.app_context():
        db.session.remove()
        db.engine.dispose()
    remove_database()


def remove_database():
    for path in DATABASE.parent.glob(DATABASE.name + "*"):  # with -wal and -shm
        path.unlink()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_operation_conforms_to_the_document(case, fuzz_token):
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {fuzz_token}"}
    case.call_and_validate(checks=CHECKS)
