"""Configuration: DATABASE_URL, SECRET_KEY and cookie settings, as DESIGN.md §5 and the README say."""

import pytest

from shop import create_app
from shop.database import normalize_url


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


def test_production_cookies_are_secure_httponly_and_samesite(monkeypatch):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    app = create_app()
    assert app.config["SECRET_KEY"] == "a-real-secret" and not app.debug
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
    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert not create_app().debug
