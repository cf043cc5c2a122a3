"""Migration 0002 creates exactly what ``shop.api.models`` declare, and can be undone."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from shop import create_app
from shop.extensions import db

API_TABLES = {"api_tokens", "idempotency_keys"}


def _concerns_api_tables(diff) -> bool:
    flat = diff if isinstance(diff, tuple) else diff[0]
    return any(
        getattr(part, "name", None) in API_TABLES
        or getattr(getattr(part, "table", None), "name", None) in API_TABLES
        or part in API_TABLES
        for part in flat
    )


def test_the_migrated_tables_match_the_models(app):
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, db.metadata)
    assert [d for d in diffs if _concerns_api_tables(d)] == []


def test_the_constraints_have_their_names(app):
    with app.app_context():
        inspector = inspect(db.engine)
        assert inspector.get_pk_constraint("idempotency_keys")["name"] in (
            "pk_idempotency_keys",
            None,
            "PRIMARY",
        )
        assert {u["name"] for u in inspector.get_unique_constraints("idempotency_keys")} == {
            "uq_idempotency_keys_caller_key"
        }
        assert {u["name"] for u in inspector.get_unique_constraints("api_tokens")} == {
            "uq_api_tokens_token_hash"
        }
        assert {fk["name"] for fk in inspector.get_foreign_keys("idempotency_keys")} == {
            "fk_idempotency_keys_order_id_orders"
        }
        assert {fk["name"] for fk in inspector.get_foreign_keys("api_tokens")} == {
            "fk_api_tokens_user_id_users"
        }


def test_downgrade_to_0001_and_back(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'roundtrip.sqlite'}"})
    with app.app_context():
        upgrade()
        assert API_TABLES <= set(inspect(db.engine).get_table_names())
        downgrade(revision="0001")
        assert not API_TABLES & set(inspect(db.engine).get_table_names())
        upgrade()
        assert API_TABLES <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()
