"""Alembic environment for Flask-Migrate (Flask-SQLAlchemy 3)."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
# Keep the application's loggers (shop.inventory) working after a migration runs.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url", db.engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def run_migrations_offline():
    """Emit the SQL of the migrations instead of running them."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=db.metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        # Don't write an empty revision when autogenerate finds no change.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # batch_alter_table rebuilds a SQLite table by copying and dropping it; with foreign keys
            # on, that DROP would delete (ON DELETE CASCADE) or refuse (RESTRICT) the rows of every
            # table pointing at it. Off for the migration (outside any transaction, where SQLite
            # honours it), checked afterwards, on again before the connection goes back to the pool.
            _sqlite_pragma(connection, "PRAGMA foreign_keys = OFF")
        try:
            context.configure(connection=connection, target_metadata=db.metadata, **conf_args)
            with context.begin_transaction():
                context.run_migrations()
            if sqlite and _sqlite_pragma(connection, "PRAGMA foreign_key_check"):
                raise RuntimeError("The migration left rows whose foreign keys point nowhere.")
        finally:
            if sqlite:
                _sqlite_pragma(connection, "PRAGMA foreign_keys = ON")


def _sqlite_pragma(connection, statement: str) -> list:
    """Run a PRAGMA on the driver's connection itself, outside SQLAlchemy's transaction."""
    return connection.connection.dbapi_connection.execute(statement).fetchall()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
