"""Configuration: DATABASE_URL, SECRET_KEY and cookie settings.

As the README's Configuration and Security sections say.
"""

import os
import stat

import pytest

from shop import create_app
from shop.database import normalize_url

PRODUCTION_KEY = "a-real-secret-of-forty-random-characters"


def test_the_default_database_is_sqlite_in_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/shop.sqlite")


def test_database_url_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5432/shop")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.example:5432/shop"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("mysql://root@h/db", "mysql+pymysql://root@h/db?charset=utf8mb4"),
        ("mariadb://root@h/db?charset=latin1", "mysql+pymysql://root@h/db?charset=latin1"),
        ("mariadb+pymysql://root@h/db", "mysql+pymysql://root@h/db?charset=utf8mb4"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_common_database_urls_get_this_projects_drivers(given, expected):
    assert normalize_url(given) == expected


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SHOP_ENV", "production")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


@pytest.mark.parametrize("weak", ["dev", "a-real-secret", "x" * 31])
def test_production_refuses_to_start_with_a_weak_secret_key(monkeypatch, weak):
    monkeypatch.setenv("SECRET_KEY", weak)
    monkeypatch.setenv("SHOP_ENV", "production")
    with pytest.raises(RuntimeError, match="SECRET_KEY is too weak"):
        create_app()


def test_without_a_secret_key_development_generates_one_into_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SHOP_ENV", raising=False)
    first = create_app({"TESTING": True}, instance_path=str(tmp_path))
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 32 and first.config["SECRET_KEY"] != "dev"
    again = create_app({"TESTING": True}, instance_path=str(tmp_path))
    assert again.config["SECRET_KEY"] == first.config["SECRET_KEY"]  # sessions survive a restart
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["secret_key"]  # no temporary files left


def test_another_instance_folder_gets_another_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    one = create_app({"TESTING": True}, instance_path=str(tmp_path / "one"))
    two = create_app({"TESTING": True}, instance_path=str(tmp_path / "two"))
    assert one.config["SECRET_KEY"] != two.config["SECRET_KEY"]


def test_an_unusable_key_file_is_refused_not_used(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    (tmp_path / "secret_key").write_text("dev\n")
    with pytest.raises(RuntimeError, match="secret_key does not hold a usable key"):
        create_app({"TESTING": True}, instance_path=str(tmp_path))


def test_production_cookies_are_secure_httponly_and_samesite(monkeypatch):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", PRODUCTION_KEY)
    app = create_app()
    assert app.config["SECRET_KEY"] == PRODUCTION_KEY and not app.debug
    for cookie in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        assert app.config[f"{cookie}_SECURE"] and app.config[f"{cookie}_HTTPONLY"]
        assert app.config[f"{cookie}_SAMESITE"] == "Lax"


def test_development_cookies_work_over_plain_http(monkeypatch):
    monkeypatch.delenv("SHOP_ENV", raising=False)
    app = create_app({"TESTING": True})
    assert not app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]


def test_a_test_config_mapping_overrides_configuration():
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite:///other.db"})
    assert app.config["SECRET_KEY"] == "x"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///other.db"


def test_production_never_runs_in_debug_mode(monkeypatch):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", PRODUCTION_KEY)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert not create_app().debug


def test_the_hoarding_limits_are_counts_and_zero_turns_them_off(monkeypatch):
    monkeypatch.delenv("SHOP_MAX_HELD_UNITS")  # the suite's 0: the shop's own defaults here
    monkeypatch.delenv("SHOP_DEFAULT_MAX_PER_ORDER")
    defaults = create_app({"TESTING": True}).config
    assert (defaults["SHOP_DEFAULT_MAX_PER_ORDER"], defaults["SHOP_MAX_HELD_UNITS"]) == (10, 20)
    monkeypatch.setenv("SHOP_MAX_HELD_UNITS", "0")
    assert create_app({"TESTING": True}).config["SHOP_MAX_HELD_UNITS"] == 0
    monkeypatch.setenv("SHOP_DEFAULT_MAX_PER_ORDER", "-1")
    with pytest.raises(RuntimeError, match="SHOP_DEFAULT_MAX_PER_ORDER"):
        create_app({"TESTING": True})
