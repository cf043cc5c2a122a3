"""Schemathesis fuzzes every operation of the live OpenAPI document, in process, on SQLite.

Its cases come from the document served at /api/v1/openapi.json (its examples, its boundary
"coverage" cases, valid and invalid ones, then random ones), a bounded number per operation and
derandomized, so a run is repeatable and short. Every check Schemathesis has runs on every
response: no 5xx; a status, content type, headers and body that the document allows; data that
breaks the document answered with a 4xx; data the document allows never refused as invalid; a
missing required header, an undocumented method or a missing credential refused.

Each operation is fuzzed three times: with a staff token holding every scope, anonymously, and
as the payment provider, whose notifications are signed (``Shop-Signature``) over the exact bytes sent.
"""

import json
import os
import socket
import tempfile
import time
from pathlib import Path

import pytest
import schemathesis
import schemathesis.transport
from flask_migrate import upgrade
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks, not_a_server_error
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    object_level_authorization,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from shop import create_app
from shop.api.openapi import ORDER_NUMBER_EXAMPLE as EXAMPLE_ORDER
from shop.demo import seed_demo_catalog
from shop.extensions import db
from shop.orders import place_order
from shop.payments import signature
from tests.support.factories import make_staff

MAX_EXAMPLES = 25
CHECKS_RUN = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    use_after_free,
    ensure_resource_availability,
    ignored_auth,
    object_level_authorization,
]
PAYMENT_SECRET = "whsec-fuzz-0123456789abcdef"

# The app exists at import time because Schemathesis reads the document while pytest collects
# (its fixture-based loader does not work with pytest 9). Its SQLite file is only created, migrated
# and seeded by the ``fuzz_token`` fixture, and removed after the module.
DATABASE = Path(tempfile.gettempdir()) / f"shop-fuzz-{os.getpid()}.sqlite"
FUZZ_APP = create_app(
    {"TESTING": True, "DATABASE_URL": f"sqlite:///{DATABASE}", "SHOP_PAYMENT_SECRET": PAYMENT_SECRET}
)
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


@pytest.fixture(scope="module")
def no_dns():
    """Webhook URLs are resolved when saved: here only IP literals are, so fuzzed host names never leave
    the machine as DNS queries (they are refused as not resolving, which the shop answers with a 422)."""
    resolve = socket.getaddrinfo

    def numeric_only(host, port, *args, **kwargs):
        return resolve(host, port, *args, **{**kwargs, "flags": socket.AI_NUMERICHOST})

    socket.getaddrinfo = numeric_only
    yield
    socket.getaddrinfo = resolve


@pytest.fixture(scope="module", params=["staff", "anonymous", "payment-provider"])
def caller(request, fuzz_token, no_dns):
    """Who sends the cases: the headers each case gets, as a function of the case."""
    return request.param, fuzz_token


def sent_body(case) -> bytes:
    """The body exactly as the case sends it (Werkzeug's client dumps a JSON body with ``json.dumps``)."""
    kwargs = schemathesis.transport.get(FUZZ_APP).serialize_case(case)
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data") or b""
    return data.encode() if isinstance(data, str) else data


def sign(case) -> None:
    """The payment provider's hook: a valid ``Shop-Signature`` over the bytes the case sends."""
    t = int(time.time())
    case.headers["Shop-Signature"] = f"t={t},v1={signature(PAYMENT_SECRET, t, sent_body(case))}"


# Problems a body valid by the document may still meet, refused by the shop's rules with a 422 as the
# document says: a location code (or SKU) it does not have, two equal locations, a source that is short.
STATE_PROBLEMS = {
    "invalid_adjustment": {"unknown_location"},
    "transfer_refused": {"unknown_product", "unknown_location", "same_location", "insufficient_stock"},
}


@schema.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but these: a signed notification valid by the document whose amount or currency
    is not its order's is refused by the shop's rule (422 ``amount_mismatch``, ``currency_mismatch``), and
    so is a webhook URL whose host is not public (422 ``invalid_webhook_endpoint``), an adjustment at a
    location the shop does not have, and a transfer it cannot make (``STATE_PROBLEMS``), as the document
    says. A 422 for anything else (``invalid_request``) still fails as rejected valid data."""
    body = response.json() if response.status_code == 422 else {}
    refused_by_rule = body.get("code") in {
        "amount_mismatch",
        "currency_mismatch",
        "invalid_webhook_endpoint",  # a URL valid by the document whose host the shop will not call
    } or {p["code"] for p in body.get("problems") or [{"code": None}]} <= STATE_PROBLEMS.get(
        body.get("code"), set()
    )
    return not (isinstance(failure, RejectedPositiveData) and refused_by_rule)


def test_every_check_of_schemathesis_runs():
    load_all_checks()
    assert {c.__name__ for c in CHECKS.get_all()} == {c.__name__ for c in CHECKS_RUN}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_operation_conforms_to_the_document(case, caller):
    who, token = caller
    headers = dict(case.headers or {})
    generated = [name for name in headers if name.lower() == "authorization"]
    for name in generated:  # a case without one is Schemathesis leaving the credential out on purpose
        del headers[name]
        if who == "staff":
            headers["Authorization"] = f"Bearer {token}"
    case.headers = headers
    signs = who == "payment-provider" and case.operation.path == "/api/v1/payments"
    if signs:
        sign(case)
    response = case.call_and_validate(checks=CHECKS_RUN)
    if signs:  # the hook itself is right: the shop never finds its signature wrong
        assert "signature does not match" not in response.text
