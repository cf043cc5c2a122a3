"""Flask extension objects, created unbound and initialised by ``create_app``."""

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import DateTime, MetaData
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Session, registry, scoped_session

# Stable constraint names keep Alembic migrations reviewable and portable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        # MariaDB/MySQL DATETIME keeps whole seconds unless asked for microseconds (migration 0003).
        type_annotation_map={datetime: DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")},
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()

if TYPE_CHECKING:
    Model = Base  # what db.Model is, as far as a type checker can tell (it is built at run time)
else:
    Model = db.Model

# The services take the session they work in: Flask-SQLAlchemy's scoped ``db.session`` at the
# edges, or a plain ``Session`` (``object_session(order)`` in the observer).
DbSession: TypeAlias = Session | scoped_session[Any]
