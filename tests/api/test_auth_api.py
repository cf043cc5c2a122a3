"""Staff bearer tokens: ``flask staff token | tokens | revoke-token`` and what the API makes of them."""

import hashlib
import re

import pytest
from sqlalchemy import select

from shop.api.models import ApiToken
from shop.models import User
from tests.support.api import API, document
from tests.support.factories import add_product, make_staff


@pytest.fixture
def staff_user(session):
    user = User(email="kim@example.com", is_staff=True, password_hash="!")
    session.add(user)
    session.commit()
    return user


def new_token(runner, email="kim@example.com", *args):
    result = runner.invoke(args=["staff", "token", email, *args])
    assert result.exit_code == 0, result.output
    match = re.search(r"^(shop_[A-Za-z0-9_-]{40,})$", result.stdout, re.M)
    assert match, result.output
    return match.group(1)


def test_the_token_command_prints_a_token_that_is_stored_hashed(session, runner, staff_user):
    token = new_token(runner, "kim@example.com", "--name", "warehouse")
    rows = session.scalars(select(ApiToken)).all()
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert rows[0].name == "warehouse"
    assert rows[0].user.email == "kim@example.com"
    stored = [str(v) for v in session.execute(select(ApiToken.__table__)).one()]
    assert token not in stored


def test_a_token_from_the_command_works_and_records_its_use(session, runner, api, staff_user):
    token = new_token(runner)
    add_product(session, "TEA", 5)
    response = api.get("/products/TEA/movements", token=token)
    assert response.status_code == 200
    session.expire_all()
    assert session.scalar(select(ApiToken.last_used_at)) is not None


def test_two_tokens_are_different(session, runner, staff_user):
    assert new_token(runner) != new_token(runner)


@pytest.mark.parametrize("email", ["nobody@example.com"])
def test_no_token_for_an_unknown_user(session, runner, email):
    result = runner.invoke(args=["staff", "token", email])
    assert result.exit_code != 0
    assert "no user" in result.output


def test_no_token_for_a_user_who_is_not_staff(session, runner):
    session.add(User(email="cust@example.com", is_staff=False, password_hash="!"))
    session.commit()
    result = runner.invoke(args=["staff", "token", "cust@example.com"])
    assert result.exit_code != 0
    assert "not a staff account" in result.output
    assert session.scalars(select(ApiToken)).all() == []


def test_revoking_all_tokens_of_a_user(session, runner, api, staff_user):
    tokens = [new_token(runner), new_token(runner)]
    result = runner.invoke(args=["staff", "revoke-token", "kim@example.com"])
    assert result.exit_code == 0, result.output
    assert "Revoked 2 token(s)" in result.output
    for token in tokens:
        response = api.get("/products", token=token)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_revoking_one_token_by_id(session, runner, api, staff_user):
    keep, drop = new_token(runner), new_token(runner)
    drop_id = session.scalar(
        select(ApiToken.id).where(ApiToken.token_hash == hashlib.sha256(drop.encode()).hexdigest())
    )
    session.rollback()  # end the read: on SQLite its snapshot would hide the command's writes
    result = runner.invoke(args=["staff", "revoke-token", "kim@example.com", "--id", str(drop_id)])
    assert result.exit_code == 0, result.output
    assert api.get("/products", token=drop).status_code == 401
    assert api.get("/products", token=keep).status_code == 200
    again = runner.invoke(args=["staff", "revoke-token", "kim@example.com", "--id", str(drop_id)])
    assert again.exit_code != 0


def test_the_tokens_command_lists_tokens_without_their_value(session, runner, staff_user):
    token = new_token(runner, "kim@example.com", "--name", "till")
    runner.invoke(args=["staff", "revoke-token", "kim@example.com"])
    result = runner.invoke(args=["staff", "tokens"])
    assert result.exit_code == 0, result.output
    assert "kim@example.com" in result.output and "till" in result.output
    assert token not in result.output


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong",
        "Bearer shop_" + "x" * 43,
        "Bearer ",
        "Basic a2ltOnNlY3JldA==",
        "Token abc",
        "Bearer " + "x" * 300,
        "Bearer caf\u00e9",
    ],
)
def test_a_wrong_or_malformed_token_is_401_on_every_operation_that_takes_a_token(session, api, header):
    add_product(session, "TEA", 5)
    for path, item in document()["paths"].items():
        url = (
            path.replace("{sku}", "TEA")
            .replace("{number}", "K7QM-2XPA-9RTD-F3HW")
            .replace("{endpoint_id}", "1")
        )
        for method, operation in item.items():
            wrong = api.request(method.upper(), url, headers={"Authorization": header})
            if any("bearerAuth" in requirement for requirement in operation["security"]):
                assert wrong.status_code == 401, (method, path, header)
                assert wrong.headers["WWW-Authenticate"].startswith('Bearer realm="shop"')
                assert wrong.json["code"] == "unauthorized"
            else:  # the payment provider signs, the document is public: a token there is not read
                without = api.request(method.upper(), url)
                assert (wrong.status_code, wrong.json.get("code")) == (
                    without.status_code,
                    without.json.get("code"),
                )


def test_only_payments_and_the_document_take_no_token():
    untokened = {
        (method, path)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if not any("bearerAuth" in requirement for requirement in operation["security"])
    }
    assert untokened == {("post", f"{API}/payments"), ("get", f"{API}/openapi.json")}


def test_an_unknown_path_is_404_with_or_without_a_wrong_token(session, api):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = api.get("/no-such-thing", headers=headers)
        assert response.status_code == 404 and response.json["code"] == "not_found"


def test_a_customer_order_with_a_wrong_token_is_refused_not_anonymous(session, api):
    add_product(session, "TEA", 5)
    body = {
        "status": "confirmed",
        "customer": {"name": "A", "email": "a@b.c"},
        "lines": [{"sku": "TEA", "quantity": 1}],
    }
    response = api.post("/orders", body, key="k", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_cookies_are_not_credentials(session, api):
    """The API only trusts bearer tokens: a browser session cannot be ridden (no CSRF exposure)."""
    add_product(session, "TEA", 5)
    make_staff(session)
    api.client.set_cookie("session", "anything")
    assert api.get("/products/TEA/movements").status_code == 401
