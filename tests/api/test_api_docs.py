"""docs/api.md and the OpenAPI document against the code.

Both are written by hand, so they are compared with what the shop serves: the routes under /api/v1
(``app.url_map``) and the scope each one enforces, found by calling it with tokens that lack it (a view
refuses them with 403 ``insufficient_scope`` and names the scope it needs). The comparison goes both
ways: every route is documented with its methods and scope, and every documented path is served. And
the examples of docs/api.md run as written against a running shop.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from shop import create_app
from shop.api.auth import issue_token
from shop.api.models import SCOPES
from shop.demo import seed_demo_catalog
from shop.extensions import db
from tests.support.api import API, document
from tests.support.databases import make_app
from tests.support.factories import make_staff

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "api.md"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
CHALLENGE_SCOPE = re.compile(r'scope="([^"]+)"')

Endpoints = dict[tuple[str, str], str | None]  # (method, path under /api/v1) → scope needed, or None


# -- what is documented ---------------------------------------------------------------------


def documented_endpoints(markdown: str) -> Endpoints:
    """The endpoint table of docs/api.md: each row's `METHOD /path` and the scope its "who" column names."""
    endpoints: Endpoints = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        found = re.match(r"`([A-Z]+) (/[^`?\s]*)", cells[0]) if len(cells) == 3 else None
        if found and found.group(1) in METHODS:
            scopes = [s for s in re.findall(r"`([^`]+)`", cells[1]) if s in SCOPES]
            assert len(scopes) <= 1, f"{cells[0]} names several scopes: {scopes}"
            endpoints[(found.group(1), found.group(2))] = scopes[0] if scopes else None
    return endpoints


def openapi_endpoints(doc: dict) -> Endpoints:
    """Each operation of the OpenAPI document and the bearer scope its ``security`` names."""
    endpoints: Endpoints = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            scopes = {s for requirement in operation["security"] for s in requirement.get("bearerAuth", [])}
            assert len(scopes) <= 1, f"{method} {path} names several scopes: {scopes}"
            endpoints[(method.upper(), path.removeprefix(API))] = scopes.pop() if scopes else None
    return endpoints


# -- what is served -------------------------------------------------------------------------


def served_endpoints(app, tokens: dict[str, str]) -> Endpoints:
    """Every route under /api/v1 with the scope it enforces; ``tokens`` has one token per single scope."""
    client = app.test_client()
    endpoints: Endpoints = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule).removeprefix(API)
        url = re.sub(
            r"<[^<>]+>", "x", re.sub(r"<int:[^<>]+>", "1", rule.rule)
        )  # a value each converter takes
        for method in sorted(rule.methods & METHODS):
            endpoints[(method, path)] = enforced_scope(client, method, url, tokens)
    return endpoints


def enforced_scope(client, method: str, url: str, tokens: dict[str, str]) -> str | None:
    """The scope the route refuses a token without; None if it refuses none of them for want of a scope."""
    for token in tokens.values():
        response = client.open(url, method=method, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 403 and response.json["code"] == "insufficient_scope":
            return CHALLENGE_SCOPE.search(response.headers["WWW-Authenticate"]).group(1)
    return None


def differences(served: Endpoints, documented: Endpoints, where: str) -> list[str]:
    """What ``documented`` says that ``served`` does not do, and the other way round."""
    found = [f"{m} {p} is served but not in {where}" for m, p in served.keys() - documented.keys()]
    found += [f"{m} {p} is in {where} but not served" for m, p in documented.keys() - served.keys()]
    found += [
        f"{m} {p} needs {served[(m, p)] or 'no scope'}, {where} says {documented[(m, p)] or 'none'}"
        for m, p in served.keys() & documented.keys()
        if served[(m, p)] != documented[(m, p)]
    ]
    return sorted(found)


@pytest.fixture
def single_scope_tokens(session):
    """A token for each scope alone, of one staff user."""
    user, _ = make_staff(session)
    tokens = {scope: issue_token(session, user, scope, scopes=[scope])[1] for scope in SCOPES}
    session.commit()
    return tokens


@pytest.fixture(params=["sqlite"])
def app(request, database_urls):
    """These tests read routes and documents: SQLite is enough."""
    yield from make_app(database_urls(request.param))


def test_docs_api_md_lists_every_route_with_its_scope_and_nothing_else(app, single_scope_tokens):
    served = served_endpoints(app, single_scope_tokens)
    assert differences(served, documented_endpoints(DOCS.read_text()), "docs/api.md") == []


def test_the_openapi_document_gives_every_route_its_scope_and_nothing_else(app, single_scope_tokens):
    served = served_endpoints(app, single_scope_tokens)
    assert differences(served, openapi_endpoints(document()), "the OpenAPI document") == []


def test_the_routes_enforce_the_scopes_the_shop_is_known_for(app, single_scope_tokens):
    served = served_endpoints(app, single_scope_tokens)
    assert served[("PUT", "/products/{sku}")] == "stock:write"
    assert served[("GET", "/products/{sku}/movements")] == "read"
    assert served[("POST", "/orders")] == "orders:write"  # for tokens; customers need none
    assert served[("GET", "/products")] is None


# -- the comparison can fail ----------------------------------------------------------------

TABLE = """
| endpoint | who | answers |
|---|---|---|
| `GET /products?page=&per_page=` | anyone | 200 page |
| `PUT /products/{sku}` `{"name"}` | staff, `stock:write` | 201 product |
"""


def test_the_table_is_read_with_methods_paths_and_scopes():
    assert documented_endpoints(TABLE) == {
        ("GET", "/products"): None,
        ("PUT", "/products/{sku}"): "stock:write",
    }


def test_a_route_the_docs_lack_is_a_difference():
    served = {("GET", "/products"): None, ("PUT", "/products/{sku}"): "stock:write", ("GET", "/new"): None}
    assert differences(served, documented_endpoints(TABLE), "docs") == ["GET /new is served but not in docs"]


def test_a_documented_path_that_is_not_served_is_a_difference():
    served = {("GET", "/products"): None}
    assert differences(served, documented_endpoints(TABLE), "docs") == [
        "PUT /products/{sku} is in docs but not served"
    ]


def test_a_wrong_scope_is_a_difference():
    served = {("GET", "/products"): "read", ("PUT", "/products/{sku}"): "stock:write"}
    assert differences(served, documented_endpoints(TABLE), "docs") == [
        "GET /products needs read, docs says none"
    ]


# -- the examples run as written ------------------------------------------------------------

PAYMENT_SECRET = "whsec-try-me"  # the value docs/api.md starts the shop with


def code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def running_shop(tmp_path):
    """The shop as docs/api.md assumes it: the demo catalog, staff ada@example.com, a payment secret,
    served over HTTP; and the environment of a shell in the repository with the virtualenv active."""
    database = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    shop = create_app({"TESTING": True, "DATABASE_URL": database, "SHOP_PAYMENT_SECRET": PAYMENT_SECRET})
    with shop.app_context():
        upgrade()
        seed_demo_catalog(db.session)
        make_staff(db.session, "ada@example.com")
        db.session.remove()
    server = make_server("127.0.0.1", 0, shop, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DATABASE_URL": database,
        "HOME": str(tmp_path),
    }

    def run(script: str) -> str:
        script = script.replace("localhost:5000", f"127.0.0.1:{server.server_port}")
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=ROOT,
            env={**env, "SECRET_KEY": shop.config["SECRET_KEY"]},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        return done.stdout

    try:
        yield run
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_every_example_of_docs_api_md_runs_as_written(running_shop):
    markdown = DOCS.read_text()
    tokens_and_orders, hold, openssl, events = code_blocks(markdown, "sh")
    [python] = code_blocks(markdown, "python")
    output = running_shop(tokens_and_orders)
    assert '"status":"confirmed"' in output and '"reason":"initial_stock"' in output  # the order, the ledger
    token = tokens_and_orders.splitlines()[0]  # TOKEN=… of the first block
    answers = running_shop(f"{token}\n{events}")
    feed, end = json.JSONDecoder().raw_decode(answers)  # curl prints the two answers back to back
    endpoint = json.loads(answers[end:])
    assert [event["type"] for event in feed["data"]] == ["order.placed"]
    assert endpoint["url"] == "https://93.184.216.34/hooks/shop" and endpoint["secret"].startswith("whsec_")
    paid_by_python = running_shop(f"{hold}\npython3 - <<'EXAMPLE'\n{python}EXAMPLE\n")
    paid_by_openssl = running_shop(f"{hold}\n{openssl}")
    paid = [json.loads(answer) for answer in (paid_by_python, paid_by_openssl)]
    assert [p["order_status"] for p in paid] == ["paid", "paid"]
    assert (
        paid[0]["payment_id"] != paid[1]["payment_id"] and paid[0]["order_number"] != paid[1]["order_number"]
    )
