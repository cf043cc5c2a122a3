"""A migrated database against the models (Alembic's autogenerate comparison), and its schema as read back.

``model_differences(connection)`` is what ``flask db migrate`` would write to make the database match
``db.metadata`` (with the project's naming convention), compared more strictly than Alembic does by
default, plus the CHECK constraints Alembic does not compare; ``[]`` when they match.
``schema_of(connection)`` is everything the inspector reads of a schema, to compare two states of it.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shop.extensions import db

# Alembic compares these only when both sides state them. The models depend on every one: exact
# SKUs and order numbers (a collation), microsecond timestamps (MariaDB's fsp), search terms
# compared byte for byte (PostgreSQL's "C").
TYPE_DETAILS = ("length", "collation", "fsp", "precision", "timezone")
# What every database keeps of a CHECK constraint as written: its string literals, words and
# comparisons. (PostgreSQL stores `status IN ('a', 'b')` as `status::text = ANY (ARRAY['a'::…])`.)
CHECK_TOKEN = re.compile(r"'(?:[^']|'')*'|\w+|[<>!]=?")


def _type_details(type_: sa.types.TypeEngine, dialect: sa.engine.Dialect) -> dict[str, Any]:
    impl = type_.dialect_impl(dialect)
    return {name: getattr(impl, name, None) for name in TYPE_DETAILS}


def _types_differ(context, inspected_column, metadata_column, inspected_type, metadata_type) -> bool | None:
    """Alembic's ``compare_type`` hook: True when a detail differs, else None (Alembic's own comparison)."""
    if _type_details(inspected_type, context.dialect) != _type_details(metadata_type, context.dialect):
        return True
    return None


def _check_signature(sqltext: str, columns: set[str]) -> list[str]:
    """A CHECK constraint's literals, columns, numbers and comparisons, in order (the rest is each database's)."""
    return [
        token
        for token in CHECK_TOKEN.findall(sqltext)
        if token[0] in "'<>!" or token in columns or token.isdigit()
    ]


def check_differences(
    connection: sa.Connection, metadata: sa.MetaData
) -> list[tuple[str, str, list[str] | None, list[str] | None]]:
    """(table, name, in the database, in the models) of every CHECK constraint that is not the same in both."""
    inspector = sa.inspect(connection)
    built: dict[tuple[str, str], list[str]] = {}
    for table in set(inspector.get_table_names()) & set(metadata.tables):
        columns = {c["name"] for c in inspector.get_columns(table)}
        for check in inspector.get_check_constraints(table):
            built[table, str(check["name"])] = _check_signature(check["sqltext"], columns)
    modelled = {
        (table.name, str(check.name)): _check_signature(str(check.sqltext), set(table.columns.keys()))
        for table in metadata.tables.values()
        for check in table.constraints
        if isinstance(check, sa.CheckConstraint)
    }
    return [
        (table, name, built.get((table, name)), modelled.get((table, name)))
        for table, name in sorted(built.keys() | modelled.keys())
        if built.get((table, name)) != modelled.get((table, name))
    ]


def model_differences(connection: sa.Connection, metadata: sa.MetaData = db.metadata) -> list:
    """What autogenerate finds between the database and the models (types and server defaults included)."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": _types_differ, "compare_server_default": True}
    )
    changes = [
        change
        for change in compare_metadata(context, metadata)
        if not (change[0] == "remove_table" and change[1].name == "alembic_version")
    ]
    return changes + check_differences(connection, metadata)


def schema_of(connection: sa.Connection) -> dict[str, Any]:
    """Every table with its columns (in order), keys, indexes and checks, and the sequences, as reflected."""
    inspector = sa.inspect(connection)
    schema: dict[str, Any] = {
        table: {
            "columns": [{**c, "type": repr(c["type"])} for c in inspector.get_columns(table)],
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": sorted(inspector.get_foreign_keys(table), key=repr),
            "indexes": sorted(inspector.get_indexes(table), key=repr),
            "unique": sorted(inspector.get_unique_constraints(table), key=repr),
            "checks": sorted(inspector.get_check_constraints(table), key=repr),
        }
        for table in sorted(inspector.get_table_names())
    }
    if connection.dialect.supports_sequences:
        schema["sequences"] = sorted(inspector.get_sequence_names())
    return schema
