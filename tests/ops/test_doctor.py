"""``flask doctor``: each finding of a production configuration, one at a time: its level, its fix, the exit status."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner
from flask.cli import ScriptInfo
from flask_migrate import upgrade

from shop import create_app
from shop.doctor import doctor_command
from shop.extensions import db
from shop.models import utcnow
from shop.outbox.worker import note_seen
from tests.support.databases import SERVER_BACKENDS, make_app

STRONG_KEY = "a-production-secret-of-forty-characters!"
PRODUCTION = {
    "SHOP_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
    "SHOP_PAYMENT_SECRET": "whsec-of-the-payment-provider",
    "MAIL_SERVER": "mail.example.com",
    "SHOP_TRUSTED_PROXIES": 1,
}


ROOT = Path(__file__).resolve().parents[2]


def doctor(app_factory) -> tuple[int, list[str]]:
    """Run ``flask doctor`` on the app ``app_factory`` makes: (exit status, its lines)."""
    result = CliRunner().invoke(doctor_command, obj=ScriptInfo(create_app=app_factory))
    return result.exit_code, result.output.splitlines()


def lines_of(lines: list[str], level: str) -> list[str]:
    return [line for line in lines if line.startswith(level + " ")]


@pytest.fixture(params=SERVER_BACKENDS)
def production(request, database_urls):
    """Make production apps on a migrated database of each server, the worker seen just now; tables emptied after."""
    url = database_urls(request.param)
    made = []

    def make(**changes):
        apps = make_app(url, **{**PRODUCTION, **changes})
        app = next(apps)
        made.append(apps)
        with app.app_context():
            note_seen()
            db.session.remove()
        return app

    yield make
    for apps in made:
        next(apps, None)  # make_app empties the tables


def test_a_sound_production_configuration_has_nothing_to_report(production):
    status, lines = doctor(lambda: production())
    assert status == 0, lines
    assert lines_of(lines, "ERROR") == lines_of(lines, "WARNING") == []
    assert len(lines_of(lines, "OK")) == 10 and lines[-1] == "0 errors, 0 warnings."


@pytest.mark.parametrize(
    ("changes", "level", "says", "fix"),
    [
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "ERROR", "memory:// with 3 workers", "redis://"),
        ({"SHOP_PAYMENT_SECRET": None}, "ERROR", "SHOP_PAYMENT_SECRET is not set", "signing secret"),
        ({"MAIL_SERVER": None}, "WARNING", "MAIL_SERVER is not set", "set MAIL_SERVER"),
        ({"SHOP_TRUSTED_PROXIES": 0}, "WARNING", "SHOP_TRUSTED_PROXIES is 0", "1 behind nginx"),
        ({"RATELIMIT_ENABLED": False}, "WARNING", "Rate limits are off", "RATELIMIT_ENABLED"),
    ],
)
def test_each_finding_names_its_fix(production, monkeypatch, changes, level, says, fix):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    status, lines = doctor(lambda: production(**changes))
    (finding,) = lines_of(lines, "ERROR") + lines_of(lines, "WARNING")
    assert finding.startswith(f"{level} ") and says in finding
    assert fix in finding.split(" Fix: ", 1)[1]
    assert status == (1 if level == "ERROR" else 0)


def test_memory_rate_limits_are_fine_for_a_single_worker(production, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    status, lines = doctor(lambda: production(RATELIMIT_STORAGE_URI="memory://"))
    assert status == 0 and lines_of(lines, "ERROR") == []


def test_an_app_that_refuses_to_start_is_an_error_that_says_why(monkeypatch):
    def without_key():
        monkeypatch.delenv("SECRET_KEY")
        return create_app({"SHOP_ENV": "production"})

    status, lines = doctor(without_key)
    assert status == 1
    assert lines[0].startswith(
        "ERROR   The app refuses to start: SECRET_KEY must be set when SHOP_ENV=production"
    )
    assert "secrets.token_hex(32)" in lines[0], "the message says how to make one"


def test_migrations_behind_are_an_error(unmigrated_app):
    upgrade(revision="0006")
    url = unmigrated_app.config["DATABASE_URL"]
    status, lines = doctor(lambda: create_app({**PRODUCTION, "TESTING": True, "DATABASE_URL": url}))
    assert status == 1
    (error,) = [line for line in lines_of(lines, "ERROR") if "revision" in line]
    head = max(path.name[:4] for path in (ROOT / "migrations" / "versions").glob("0*.py"))
    assert f"at revision 0006, the code at {head}" in error and "Fix: flask --app app db upgrade" in error


def test_a_worker_not_seen_lately_is_a_warning(production):
    app = production()
    with app.app_context():
        note_seen(utcnow() - timedelta(minutes=3))
        db.session.remove()
    status, lines = doctor(lambda: app)
    assert status == 0
    (warning,) = lines_of(lines, "WARNING")
    assert "No worker seen in the last 120 s (last at" in warning and "flask --app app worker" in warning


def test_a_database_clock_far_from_the_apps_is_a_warning(production):
    app = production()
    with time_machine.travel(utcnow() + timedelta(seconds=30), tick=True):
        note = doctor(lambda: app)
    status, lines = note
    (warning,) = lines_of(lines, "WARNING")
    assert status == 0 and "The database's clock is 30 s behind the app's" in warning and "NTP" in warning


def test_a_database_that_does_not_answer_is_an_error():
    url = "postgresql+psycopg://postgres@127.0.0.1:1/shop"
    status, lines = doctor(lambda: create_app({**PRODUCTION, "TESTING": True, "DATABASE_URL": url}))
    assert status == 1
    assert "ERROR   The database does not answer: OperationalError" in lines[-2]


def sqlite_app(tmp_path, **config):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/shop.sqlite", **config})
    with app.app_context():
        upgrade()
        note_seen()
    return app


def test_sqlite_in_production_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    app = sqlite_app(tmp_path, **PRODUCTION)
    status, lines = doctor(lambda: app)
    (error,) = lines_of(lines, "ERROR")
    assert status == 1 and "DATABASE_URL is a SQLite file" in error and "Fix: use PostgreSQL" in error


def test_outside_production_the_production_errors_are_warnings(tmp_path):
    app = sqlite_app(tmp_path)
    status, lines = doctor(lambda: app)
    assert status == 0 and lines_of(lines, "ERROR") == []
    assert any("SQLite file" in line for line in lines_of(lines, "WARNING"))
    assert lines[0].startswith("WARNING SHOP_ENV=development")
