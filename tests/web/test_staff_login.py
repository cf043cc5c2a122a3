"""Staff login: Flask-Login, hashed passwords, only staff accounts, every /staff route guarded."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from shop.models import User
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, make_user
from tests.support.readers import read
from tests.support.web import flashes, log_in

STAFF_ROUTES = [
    ("GET", "/staff/"),
    ("GET", "/staff/?q=tea&sort=on_hand"),
    ("GET", "/staff/products/TEA"),
    ("POST", "/staff/products/TEA/adjust"),
    ("POST", "/staff/products/TEA/edit"),
    ("GET", "/staff/new-product"),
    ("POST", "/staff/new-product"),
    ("GET", "/staff/orders"),
    ("POST", "/staff/orders/AAAA-BBBB-CCCC-DDDD/status"),
    ("GET", "/staff/movements.csv"),
]


@pytest.mark.parametrize("method, path", STAFF_ROUTES)
def test_every_staff_route_requires_a_login(client, method, path):
    response = client.open(path, method=method, data={"delta": "5", "reason": "restock", "status": "paid"})
    assert response.status_code == 302
    assert response.location.startswith("/staff/login?next=")


def test_a_staff_member_logs_in_and_lands_on_the_stock_table(client, staff):
    response = log_in(client)
    assert (response.status_code, response.location) == (302, "/staff/")
    page = client.get("/staff/")
    assert page.status_code == 200
    assert f"Welcome, {STAFF_EMAIL}." in flashes(page.text)
    assert f"Signed in as {STAFF_EMAIL}" in page.text


def test_the_login_page_has_a_labelled_form(client):
    html = client.get("/staff/login").text
    assert '<label for="email">E-mail address</label>' in html
    assert '<label for="password">Password</label>' in html
    assert 'autocomplete="current-password"' in html


def test_the_login_email_is_case_insensitive(client, staff):
    assert log_in(client, email="  Staff@Example.COM ").status_code == 302


@pytest.mark.parametrize(
    "email, password",
    [
        (STAFF_EMAIL, "wrong password"),
        ("nobody@example.com", STAFF_PASSWORD),
    ],
)
def test_wrong_credentials_are_refused_with_the_same_message(client, staff, email, password):
    response = log_in(client, email=email, password=password)
    assert response.status_code == 401
    assert "That e-mail address and password don't match a staff account." in flashes(response.text)
    assert client.get("/staff/").status_code == 302


def test_an_account_without_staff_rights_cannot_log_in(client, session):
    make_user(session, "customer@example.com", "password123", is_staff=False)
    response = log_in(client, email="customer@example.com", password="password123")
    assert response.status_code == 401
    assert client.get("/staff/").status_code == 302


def test_an_empty_login_form_is_refused(client, staff):
    response = client.post("/staff/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert "Please enter your e-mail address." in response.text
    assert "Please enter your password." in response.text


def test_passwords_are_stored_as_argon2id_hashes(session, staff):
    stored = read(session, select(User.password_hash).where(User.email == STAFF_EMAIL))
    assert STAFF_PASSWORD not in stored
    assert stored.startswith("$argon2id$")


def test_an_account_made_with_flask_staff_create_can_log_in(app, client, session):
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "Boss@Example.com"], input="long enough\nlong enough\n"
    )
    assert result.exit_code == 0, result.output
    assert log_in(client, email="boss@example.com", password="long enough").status_code == 302
    assert client.get("/staff/orders").status_code == 200


@pytest.mark.parametrize(
    "next_url, landing",
    [
        ("/staff/orders?status=paid", "/staff/orders?status=paid"),
        ("https://evil.example/phish", "/staff/"),
        ("//evil.example/phish", "/staff/"),
        ("/\\evil.example", "/staff/"),
        ("javascript:alert(1)", "/staff/"),
    ],
)
def test_login_follows_next_only_to_paths_on_this_site(client, staff, next_url, landing):
    response = log_in(client, next=next_url)
    assert (response.status_code, response.location) == (302, landing)


def test_the_redirect_to_login_remembers_the_page(client, staff):
    response = client.get("/staff/orders?status=draft")
    assert response.location == "/staff/login?next=%2Fstaff%2Forders%3Fstatus%3Ddraft"
    login_page = client.get(response.location)
    assert "Please log in to open the staff dashboard." in flashes(login_page.text)
    assert 'value="/staff/orders?status=draft"' in login_page.text
    assert log_in(client, next="/staff/orders?status=draft").location == "/staff/orders?status=draft"


def test_a_logged_in_visit_to_the_login_page_goes_to_the_dashboard(staff_client):
    assert staff_client.get("/staff/login").location == "/staff/"


def test_logout_is_a_post_and_ends_the_session(staff_client):
    assert staff_client.get("/staff/logout").status_code == 405
    assert staff_client.get("/staff/").status_code == 200
    response = staff_client.post("/staff/logout")
    assert (response.status_code, response.location) == (302, "/staff/login")
    assert "You are logged out." in flashes(staff_client.get("/staff/login").text)
    assert staff_client.get("/staff/").status_code == 302


def test_a_session_of_a_user_who_lost_staff_rights_is_not_let_in(staff_client, session):
    session.execute(update(User).where(User.email == STAFF_EMAIL).values(is_staff=False))
    session.commit()
    assert staff_client.get("/staff/").status_code == 302
