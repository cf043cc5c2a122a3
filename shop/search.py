"""The storefront catalog: one page of products, searched by the words of their name and SKU.

How search works: every product's words (of its name and its SKU, plus the whole SKU) are kept,
case- and accent-folded in Python, in ``product_search_terms`` (``term``, ``product_id``), whose
primary key starts with ``term``. A query matches the products that have, for each of its words, a
term starting with that word ("gre tea" finds "Sencha green tea"; "tea-sen" finds TEA-SENCHA). Each
word is one range scan of that index (``term >= 'gre' AND term < 'grf'``, the indexable form of
``LIKE 'gre%'``, exact because the column compares bytes on every database), the words' ranges
joined on the product id: a search reads the index entries of the products it finds, never every
product, and never the products table to count them. The session hook keeps the terms in
step with every ORM write of a product's name or SKU (``refresh_terms``); ``flask catalog reindex``
rebuilds them after writes that went around it, in plain SQL (``rebuild_terms``).

Why not ``LIKE '%word%'`` over the names: it reads every product for the count and again for the
page (3.5 ms each at 10,000 products on PostgreSQL, where a page costs about 5 ms in all) and the
catalog must stay as fast with 10,000 products as with 10. Why not the databases' full-text search:
three engines that split, stem and skip words differently (MariaDB ignores words under three
letters and cannot index the byte-compared SKU together with the name; SQLite's FTS5 is a virtual
table kept in step by triggers), so one query would find different products on each database.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import chain

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    distinct,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.orm import undefer, with_expression

from .extensions import DbSession
from .holds import expired_hold_units
from .models import Product, ProductSearchTerm

MAX_TERM_LENGTH = 64
MAX_QUERY_LENGTH = 100
MAX_QUERY_WORDS = 6
WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without accents, the same on every database: ``Straße Crème`` → ``strasse creme``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of ``text``, each at most ``MAX_TERM_LENGTH`` characters."""
    return [word[:MAX_TERM_LENGTH] for word in WORD.findall(fold(text))]


def product_terms(sku: str, name: str) -> set[str]:
    """What a product is found by: the words of its name and SKU, and its whole SKU."""
    whole_sku = fold(sku)[:MAX_TERM_LENGTH]
    return {*words(name), *words(sku), *([whole_sku] if whole_sku else [])}


def query_words(query: str) -> list[str]:
    """The words of a search, in order, without repeats; at most ``MAX_QUERY_WORDS``."""
    return list(dict.fromkeys(words(query[:MAX_QUERY_LENGTH])))[:MAX_QUERY_WORDS]


def _after(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix`` (by code point)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # no surrogates: they cannot be stored as UTF-8
        last = 0xE000
    return prefix[:-1] + chr(min(last, 0x10FFFF))


def _starting_with(terms, i: int) -> ColumnElement[bool]:
    """The range of word ``i``: its terms are between the bound parameters ``from_i`` and ``to_i``."""
    return and_(terms.c.term >= bindparam(f"from_{i}"), terms.c.term < bindparam(f"to_{i}"))


def word_ranges(query_words: list[str]) -> dict[str, str]:
    """The bound parameters of ``matching_ids``: for each word, the range of the terms it starts."""
    ranges = {}
    for i, word in enumerate(query_words):
        ranges[f"from_{i}"], ranges[f"to_{i}"] = word, _after(word)
    return ranges


def matching_ids(word_count: int) -> Select:
    """Ids of the products with a term starting with each of the words (one index range per word).

    The words' ranges are joined on the product id, so the database reads only the index entries of
    the products a word finds; a product with several terms starting with one word comes out once
    per such term (use ``DISTINCT`` to count). The words are bound parameters (``word_ranges``).
    """
    first, *others = [ProductSearchTerm.__table__.alias(f"term_{i}") for i in range(word_count)]
    stmt = select(first.c.product_id).where(_starting_with(first, 0))
    for i, terms in enumerate(others, start=1):
        stmt = stmt.join(terms, terms.c.product_id == first.c.product_id).where(_starting_with(terms, i))
    return stmt


# -- keeping the terms in step (called by the session hook, shop/events.py) --------------------


def _renamed(product: Product) -> bool:
    state = inspect(product)
    return state.attrs.name.history.has_changes() or state.attrs.sku.history.has_changes()


def refresh_terms(session: DbSession) -> None:
    """After a flush: write the terms of new products and of products whose name or SKU changed."""
    new = [obj for obj in session.new if isinstance(obj, Product)]
    renamed = [obj for obj in session.dirty if isinstance(obj, Product) and _renamed(obj)]
    if not new and not renamed:
        return
    connection = session.connection()
    if renamed:
        ids = [p.id for p in renamed]
        connection.execute(delete(ProductSearchTerm).where(ProductSearchTerm.product_id.in_(ids)))
    rows = [
        {"term": term, "product_id": product.id}
        for product in chain(new, renamed)
        for term in sorted(product_terms(product.sku, product.name))
    ]
    if rows:
        connection.execute(insert(ProductSearchTerm), rows)


REINDEX_BATCH = 1000  # products per batch: a few thousand terms per INSERT, bounded memory at any size


def rebuild_terms(session: DbSession) -> int:
    """Write every product's terms again (after products were written with plain SQL); how many products.

    In the caller's transaction, ``REINDEX_BATCH`` products at a time in id order: each batch is
    read under a share lock (a rename made meanwhile waits for the commit, then writes its own
    terms; orders, which only refer to products, do not wait), its terms deleted and written again.
    Last, terms of products that no longer exist go (a delete made with foreign keys off, as
    SQLite's shell runs by default, leaves them behind, and the catalog would count them).
    """
    count, last_id = 0, 0
    while batch := session.execute(
        select(Product.id, Product.sku, Product.name)
        .where(Product.id > last_id)
        .order_by(Product.id)
        .limit(REINDEX_BATCH)
        .with_for_update(read=True)
    ).all():
        ids = [product_id for product_id, _, _ in batch]
        session.execute(delete(ProductSearchTerm).where(ProductSearchTerm.product_id.in_(ids)))
        terms = [
            {"term": t, "product_id": i} for i, sku, name in batch for t in sorted(product_terms(sku, name))
        ]
        if terms:  # none only when a batch's every name and SKU are blank or punctuation
            session.execute(insert(ProductSearchTerm), terms)
        count, last_id = count + len(batch), ids[-1]
    session.execute(delete(ProductSearchTerm).where(ProductSearchTerm.product_id.not_in(select(Product.id))))
    return count


# -- one page of the catalog -------------------------------------------------------------------


@dataclass
class CatalogPage:
    """A page of products and what the pagination links need (the attributes of Flask-SQLAlchemy's)."""

    items: list[Product]
    total: int
    page: int
    per_page: int
    requested_page: int
    words: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def past_the_end(self) -> bool:
        """The page asked for is beyond the last one: this is the last page instead."""
        return self.requested_page > self.page

    def iter_pages(
        self, *, left_edge: int = 2, left_current: int = 2, right_current: int = 4, right_edge: int = 2
    ) -> Iterator[int | None]:
        """Page numbers to link, None for a gap (as Flask-SQLAlchemy's ``Pagination.iter_pages``)."""
        end = self.pages + 1
        left_end = min(1 + left_edge, end)
        yield from range(1, left_end)
        if left_end == end:
            return
        mid_start, mid_end = max(left_end, self.page - left_current), min(self.page + right_current + 1, end)
        if mid_start > left_end:
            yield None
        yield from range(mid_start, mid_end)
        if mid_end == end:
            return
        right_start = max(mid_end, end - right_edge)
        if right_start > mid_end:
            yield None
        yield from range(right_start, end)


def with_stock() -> Select[Product]:
    """Products with their ``on_hand`` (units at active locations that fulfil orders) and the units their
    expired holds keep, in one statement.

    The expired units (``Product.expired_hold_units``) count as available to customers
    (``shop.holds.units_on_offer``): the checkout releases them.
    """
    return select(Product).options(
        undefer(Product.on_hand), with_expression(Product.expired_hold_units, expired_hold_units())
    )


@cache
def _catalog_statements(word_count: int) -> tuple[Select, Select]:
    """The count and the page of a catalog searched by ``word_count`` words (0: every product).

    Built once for each number of words, with bound parameters (the words' ranges, ``limit`` and
    ``offset``): building the page's statement and its cache key took longer than running it.
    """
    page = with_stock().order_by(Product.name, Product.sku)
    page = page.limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
    if not word_count:
        return select(func.count()).select_from(Product), page
    ids = matching_ids(word_count).subquery()
    # The matching ids first, then their products: a search costs what it finds. (Walking the
    # name index and looking up each product's terms can read the whole catalog when the
    # matches sort late, e.g. "sencha" among 10,000 products.)
    distinct_ids = matching_ids(word_count).distinct().subquery()
    return (
        select(func.count(distinct(ids.c.product_id))),
        page.join(distinct_ids, distinct_ids.c.product_id == Product.id),
    )


def catalog_page(session: DbSession, query: str, page: int, per_page: int) -> CatalogPage:
    """Products matching ``query`` by name, then SKU; page ``page`` (past the end: the last page).

    Two statements whatever the catalog's size: the count, then the page with its stock (and the
    units expired holds keep, ``with_stock``).
    """
    found = query_words(query)
    if query.strip() and not found:  # only punctuation ("%", "-"): nothing to look for, nothing found
        return CatalogPage([], 0, 1, per_page, requested_page=max(page, 1))
    count, listing = _catalog_statements(len(found))
    ranges = word_ranges(found)
    total = session.scalar(count, ranges) or 0
    shown = min(max(page, 1), max(1, math.ceil(total / per_page)))
    window = {"limit": per_page, "offset": (shown - 1) * per_page}
    items = list(session.scalars(listing, ranges | window)) if total else []
    return CatalogPage(items, total, shown, per_page, requested_page=max(page, 1), words=found)
