"""Attacks on staff sessions and passwords (README, Security), each written as the attack, on all three databases.

A cookie is "useless" when the staff pages answer it as they answer nobody: 302 to the log-in page.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from shop import passwords
from shop.extensions import db
from shop.models import User
from tests.support.databases import ALL_BACKENDS, make_app
from tests.support.factories import STAFF_EMAIL, STAFF_PASSWORD, make_staff, make_user
from tests.support.readers import read
from tests.support.web import log_in

LOGIN = "/staff/login"


def session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def replay(app, cookie: str, path: str = "/staff/orders"):
    """The attacker's request: a client of their own carrying a copied session cookie."""
    attacker = app.test_client()
    attacker.set_cookie("session", cookie)
    return attacker.get(path)


def assert_sent_to_log_in(response) -> None:
    assert response.status_code == 302, response.status_code
    assert response.location.startswith(LOGIN)


def password_hash(session) -> str:
    return read(session, select(User.password_hash).where(User.email == STAFF_EMAIL))


# -- log-out, password change and disable end every earlier session --------------------------------


def test_a_cookie_copied_before_log_out_is_useless_after_it(app, staff_client):
    stolen = session_cookie(staff_client)
    assert replay(app, stolen).status_code == 200  # the copy works while the session lives
    assert staff_client.post("/staff/logout").status_code == 302
    assert_sent_to_log_in(replay(app, stolen))
    assert_sent_to_log_in(replay(app, stolen, "/staff/movements.csv"))


def test_log_out_ends_the_accounts_other_sessions_too(app, client, staff):
    laptop, phone = app.test_client(), app.test_client()
    assert log_in(laptop).status_code == 302 and log_in(phone).status_code == 302
    assert laptop.post("/staff/logout").status_code == 302
    assert_sent_to_log_in(phone.get("/staff/"))


def test_a_cookie_copied_before_a_password_change_is_useless_after_it(app, runner, session, staff_client):
    stolen = session_cookie(staff_client)
    result = runner.invoke(
        args=["staff", "set-password", STAFF_EMAIL], input="a-brand-new-password\na-brand-new-password\n"
    )
    assert result.exit_code == 0, result.output
    assert_sent_to_log_in(replay(app, stolen))
    assert_sent_to_log_in(staff_client.get("/staff/"))  # the owner's own session ends too
    assert log_in(app.test_client()).status_code == 401  # the old password is gone
    assert log_in(app.test_client(), password="a-brand-new-password").status_code == 302


def test_a_disabled_account_loses_its_sessions_and_tokens_and_cannot_log_in(
    app, client, runner, session, caplog
):
    make_user(session)
    _, token = make_staff(session, "robot@example.com")
    assert log_in(client).status_code == 302
    stolen = session_cookie(client)
    for email in (STAFF_EMAIL, "robot@example.com"):
        result = runner.invoke(args=["staff", "disable", email])
        assert result.exit_code == 0, result.output
    assert_sent_to_log_in(replay(app, stolen))
    assert_sent_to_log_in(client.get("/staff/"))
    assert (
        app.test_client().get("/api/v1/products", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    with caplog.at_level(logging.WARNING, logger="shop.security"):
        refused = log_in(app.test_client())  # the right password, on a disabled account
    assert refused.status_code == 401
    assert "account disabled" in caplog.text
    for email in (STAFF_EMAIL, "robot@example.com"):
        assert runner.invoke(args=["staff", "enable", email]).exit_code == 0
    assert_sent_to_log_in(replay(app, stolen))  # enabling does not bring old sessions back
    assert log_in(app.test_client()).status_code == 302
    assert (
        app.test_client().get("/api/v1/products", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )


# -- the log-in starts a new session -----------------------------------------------------------------


def test_nothing_from_before_the_log_in_survives_it(app, client, staff):
    """Session fixation: values planted before the log-in (the CSRF token among them) are gone after it."""
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(LOGIN).text
    with client.session_transaction() as before:
        csrf_before = before["csrf_token"]
        before["planted"] = "by the attacker"
    assert csrf_before
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert log_in(client, csrf_token=token).status_code == 302
    with client.session_transaction() as after:
        assert "planted" not in after
        assert after.get("csrf_token") != csrf_before
        assert after.permanent
    client.get("/staff/")  # a form rendered after the log-in carries a new token
    with client.session_transaction() as later:
        assert later["csrf_token"] != csrf_before


def test_a_session_ends_after_shop_session_hours_however_busy(app, client, staff, time_machine):
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=8)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    time_machine.move_to(start, tick=False)
    assert log_in(client).status_code == 302
    stolen = session_cookie(client)
    for hours in (1, 4, 7, 7.9):  # busy all day: every answer re-signs the cookie
        time_machine.move_to(start + timedelta(hours=hours), tick=False)
        assert client.get("/staff/").status_code == 200
    time_machine.move_to(start + timedelta(hours=8, minutes=1), tick=False)
    assert_sent_to_log_in(client.get("/staff/"))
    assert_sent_to_log_in(replay(app, stolen))


def test_the_session_lifetime_comes_from_shop_session_hours(database_urls):
    for app in make_app(database_urls("sqlite"), SHOP_SESSION_HOURS=2):
        assert app.permanent_session_lifetime == timedelta(hours=2)


# -- the secret key ----------------------------------------------------------------------------------


@pytest.fixture(params=ALL_BACKENDS)
def app_without_secret_key(request, database_urls, monkeypatch, tmp_path):
    """The app as `make run` starts it: no SHOP_ENV, no SECRET_KEY (its key goes to tmp_path)."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SHOP_ENV", raising=False)
    for app in make_app(database_urls(request.param), instance_path=str(tmp_path)):
        with app.app_context():
            make_user(db.session)
            db.session.remove()
        yield app


def forge(user_id: str, key: str) -> str:
    """A session cookie saying ``user_id`` is logged in, signed with ``key``."""
    forger = Flask("forger")
    forger.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    return serializer.dumps({"_user_id": user_id, "_fresh": True, "_logged_in_at": int(time.time())})


def test_a_cookie_forged_with_dev_does_not_open_the_dashboard(app_without_secret_key):
    app = app_without_secret_key
    with app.app_context():
        user = db.session.scalar(select(User))
        real_id = user.get_id()  # even knowing the account's current session token
    for user_id in (real_id, real_id.split(":")[0]):
        assert_sent_to_log_in(replay(app, forge(user_id, "dev")))
    # The forgery itself is sound: signed with the app's real key it would get in.
    assert replay(app, forge(real_id, app.secret_key)).status_code == 200


# -- passwords ---------------------------------------------------------------------------------------


def test_an_old_werkzeug_hash_is_upgraded_to_argon2id_at_the_next_log_in(app, client, session, staff):
    session.execute(
        update(User)
        .where(User.email == STAFF_EMAIL)
        .values(password_hash=generate_password_hash(STAFF_PASSWORD, method="scrypt"))
    )
    session.commit()
    assert password_hash(session).startswith("scrypt:")
    assert log_in(app.test_client(), password="wrong password").status_code == 401
    assert password_hash(session).startswith("scrypt:")  # a failed log-in changes nothing
    assert log_in(client).status_code == 302
    assert password_hash(session).startswith("$argon2id$")
    assert log_in(app.test_client()).status_code == 302  # and the password still works


def test_an_argon2_hash_with_weaker_parameters_is_rehashed(app, client, session, staff, monkeypatch):
    monkeypatch.setattr(passwords, "hasher", PasswordHasher())  # the shop's own, not the suite's cheap one
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(STAFF_PASSWORD)
    session.execute(update(User).where(User.email == STAFF_EMAIL).values(password_hash=weak))
    session.commit()
    assert log_in(client).status_code == 302
    upgraded = password_hash(session)
    assert upgraded != weak and upgraded.startswith("$argon2id$") and "m=8," not in upgraded


def test_an_unknown_address_costs_a_password_check_too(app, client, staff, monkeypatch):
    from shop.web.staff import auth

    checked = []
    monkeypatch.setattr(auth, "waste_a_check", lambda password: checked.append(True))
    assert log_in(client, email="nobody@example.com").status_code == 401
    assert checked == [True]


# -- failed log-ins are logged -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "email, password, reason",
    [
        (STAFF_EMAIL, "guess-number-1", "wrong password"),
        ("nobody@example.com", "guess-number-2", "no such account"),
    ],
)
def test_a_failed_log_in_is_logged_with_address_and_email_never_the_password(
    client, staff, caplog, email, password, reason
):
    with caplog.at_level(logging.INFO, logger="shop.security"):
        response = client.post(
            LOGIN, data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
        )
    assert response.status_code == 401
    [record] = [r for r in caplog.records if r.name == "shop.security" and r.levelno == logging.WARNING]
    message = record.getMessage()
    assert email in message and "203.0.113.9" in message and reason in message
    assert all(password not in r.getMessage() and password not in repr(r.args) for r in caplog.records)
