"""Hoarding limits per e-mail: the e-mail key of each hold, lock rows of e-mails

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00

- ``orders.client_email_hash``: the key of the customer's e-mail (``shop.clients.email_key``, a SHA-256
  in hex) whose hold the order is, kept while it is one; indexed with ``hold_expires_at`` to count an
  e-mail's live holds;
- ``hold_clients.client`` takes 70 characters: an e-mail's lock row is ``email:`` and its key.

Holds placed before this revision have no e-mail key and count against their address only. Going
down drops the column (the keys with it) and deletes the e-mails' rows of ``hold_clients`` so that
the column fits 64 characters again: they are lock rows only, which the next hold of an e-mail
would create again, and the worker deletes anyway once their holds are over.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("client_email_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_orders_client_email_hash_hold_expires_at",
            ["client_email_hash", "hold_expires_at"],
            unique=False,
        )
    with op.batch_alter_table("hold_clients") as batch_op:
        batch_op.alter_column(
            "client", existing_type=sa.String(length=64), type_=sa.String(length=70), existing_nullable=False
        )


def downgrade():
    hold_clients = sa.table("hold_clients", sa.column("client", sa.String()))
    op.execute(hold_clients.delete().where(hold_clients.c.client.like("email:%")))
    with op.batch_alter_table("hold_clients") as batch_op:
        batch_op.alter_column(
            "client", existing_type=sa.String(length=70), type_=sa.String(length=64), existing_nullable=False
        )
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_index("ix_orders_client_email_hash_hold_expires_at")
        batch_op.drop_column("client_email_hash")
