"""Storefront: the catalog's order index and the search terms of every product

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00

``ix_products_name_sku`` lets a catalog page read 24 products in name order from the index instead
of sorting the whole table; ``product_search_terms`` holds the words each product is found by
(``shop.search``), filled here for the products that exist already.
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Compared by code point on every database, so that a word prefix is one range of the index.
TERM = (
    sa.String(length=64)
    .with_variant(mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb")
    .with_variant(postgresql.VARCHAR(64, collation="C"), "postgresql")
)


# A copy of shop.search.product_terms as it is at this revision: a migration must not change
# with the application code.
def _fold(text):
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _terms(sku, name):
    words = [w[:64] for w in re.findall(r"\w+", _fold(name)) + re.findall(r"\w+", _fold(sku))]
    whole = _fold(sku)[:64]
    return {*words, *([whole] if whole else [])}


def upgrade():
    with op.batch_alter_table("products") as batch_op:
        batch_op.create_index("ix_products_name_sku", ["name", "sku"], unique=False)
    terms = op.create_table(
        "product_search_terms",
        sa.Column("term", TERM, nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_search_terms_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "product_id", name=op.f("pk_product_search_terms")),
    )
    with op.batch_alter_table("product_search_terms") as batch_op:
        batch_op.create_index("ix_product_search_terms_product_id_term", ["product_id", "term"], unique=False)
    products = op.get_bind().execute(sa.text("SELECT id, sku, name FROM products")).all()
    rows = [{"term": t, "product_id": pid} for pid, sku, name in products for t in _terms(sku, name)]
    if rows:
        op.bulk_insert(terms, rows)


def downgrade():
    op.drop_table("product_search_terms")
    with op.batch_alter_table("products") as batch_op:
        batch_op.drop_index("ix_products_name_sku")
