"""The storefront's catalog at ``/`` (pages of 24, search, badges) and the product pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from shop.models import Inventory, Product
from tests.support.factories import add_product
from tests.support.web import add_to_cart, cart_of, fill_cart, flashes


def card(html: str, sku: str) -> str:
    """The product card of ``sku`` in the catalog page."""
    start = html.index(f'<span class="sku">{sku}</span>')
    return html[html.rindex("<li", 0, start) : html.index("</li>", start)]


def skus_on(html: str) -> list[str]:
    return re.findall(r'<span class="sku">([^<]+)</span>', html)


def test_the_catalog_shows_price_availability_and_add_to_cart_per_product(client, catalog):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    expected = {
        "TEA": "In stock",
        "CUP": "Only 2 left",
        "POT": "Out of stock",
        "KETTLE": "Temporarily unavailable",
        "SCALE": "Discontinued",
        "GIFT": "Out of stock",
    }
    for sku, badge in expected.items():
        assert re.search(rf'<span class="badge [a-z-]+">{badge}</span>', card(html, sku)), sku
    assert "€12.50" in card(html, "TEA")
    for sku in ("TEA", "CUP"):
        assert f'name="sku" value="{sku}"' in card(html, sku)
        assert re.search(
            r'<label for="qty-\d+">Quantity<span class="visually-hidden"> of Product ' + sku, card(html, sku)
        )
        assert ">Add to cart<" in card(html, sku)
        assert f'href="/products/{sku}"' in card(html, sku)
    for sku in ("POT", "KETTLE", "SCALE", "GIFT"):
        assert "Add to cart" not in card(html, sku) and "Can't be ordered right now" in card(html, sku)
    assert skus_on(html) == ["CUP", "GIFT", "KETTLE", "POT", "SCALE", "TEA"]  # by name


def test_a_per_order_limit_is_shown_on_the_card_and_the_product_page(client, catalog):
    catalog.execute(update(Product).where(Product.sku == "TEA").values(max_per_order=3))
    catalog.commit()
    assert "limit 3 per order" in card(client.get("/").text, "TEA")
    assert "limit 3 per order" not in card(client.get("/").text, "CUP")
    page = client.get("/products/TEA").text
    assert "limit 3 per order" in page and 'max="3"' in page


def test_an_empty_catalog_says_so(client):
    assert "The catalog is empty for now" in client.get("/").text


@pytest.fixture
def many(session):
    """60 products: "Product P00" … "Product P59", named so that name order is SKU order."""
    session.add_all(
        Product(sku=f"P{i:02}", name=f"Product P{i:02}", price_cents=100, inventory=Inventory(quantity=5))
        for i in range(60)
    )
    session.commit()
    return session


def test_24_products_a_page_in_name_order_with_links_to_the_others(client, many):
    first, third = client.get("/").text, client.get("/?page=3").text
    assert skus_on(first) == [f"P{i:02}" for i in range(24)]
    assert skus_on(third) == [f"P{i:02}" for i in range(48, 60)]
    assert 'href="/?page=2" rel="next"' in first and "Page 1 of 3" in first
    assert 'href="/?page=2" rel="prev"' in third and "Page 3 of 3" in third
    assert 'aria-current="page"><span class="visually-hidden">Page </span>3<' in third


@pytest.mark.parametrize("page", ["4", "99", "99999999999999999999999", "9" * 400])
def test_a_page_past_the_end_shows_the_last_page_kindly(client, many, page):
    response = client.get(f"/?page={page}")
    assert response.status_code == 200
    assert skus_on(response.text) == [f"P{i:02}" for i in range(48, 60)]
    assert "There are only 3 pages: here is the last one." in response.text


@pytest.mark.parametrize("page", ["0", "-3", "abc", "", "1.5"])
def test_a_page_that_is_not_a_page_shows_the_first(client, many, page):
    response = client.get(f"/?page={page}")
    assert response.status_code == 200 and skus_on(response.text)[0] == "P00"


def test_pages_of_a_search_keep_the_search(client, many):
    html = client.get("/?q=product").text
    assert "60 products match “product”." in html
    assert 'href="/?q=product&amp;page=2" rel="next"' in html


@pytest.fixture
def shelf(session):
    for sku, name in [
        ("TEA-SENCHA", "Sencha green tea"),
        ("TEA-ASSAM", "Assam breakfast tea"),
        ("CUP-STONE", "Stoneware cup"),
        ("A_B", "Underscore thing"),
        ("AXB", "Cross thing"),
        ("PCT-1", "100% cotton bag"),
    ]:
        product = add_product(session, sku, 5)
        product.name = name
    session.commit()
    return session


@pytest.mark.parametrize(
    "query, skus",
    [
        ("tea", ["TEA-ASSAM", "TEA-SENCHA"]),
        ("Green", ["TEA-SENCHA"]),
        ("gre tea", ["TEA-SENCHA"]),
        ("tea-sen", ["TEA-SENCHA"]),
        ("cup-stone", ["CUP-STONE"]),
        ("a_b", ["A_B"]),  # "_" is not a wildcard: AXB does not match
        ("100%", ["PCT-1"]),  # nor is "%"
        ("  stone  ", ["CUP-STONE"]),
    ],
)
def test_search_by_name_or_sku(client, shelf, query, skus):
    response = client.get("/", query_string={"q": query})
    assert response.status_code == 200
    assert skus_on(response.text) == skus
    assert f'value="{query.strip()}"' in response.text  # the search box keeps what was typed


@pytest.mark.parametrize("query", ["%", "_", "%%", "zzz", "'; DROP TABLE products; --", "<script>x</script>"])
def test_a_search_that_finds_nothing_says_so_kindly(client, shelf, query):
    response = client.get("/", query_string={"q": query})
    assert response.status_code == 200
    assert skus_on(response.text) == []
    assert "No products match" in response.text and "browse all products" in response.text
    assert "<script>x</script>" not in response.text


def test_a_long_search_is_cut_to_100_characters(client, shelf):
    response = client.get("/", query_string={"q": "tea " + "x" * 500})
    assert response.status_code == 200 and "x" * 101 not in response.text


def test_the_product_page_shows_the_same_facts_and_add_to_cart(client, catalog):
    response = client.get("/products/CUP")
    assert response.status_code == 200
    html = response.text
    assert "<h1" in html and "Product CUP" in html and "€8.00" in html
    assert re.search(r'<span class="badge badge-low">Only 2 left</span>', html)
    assert 'name="sku" value="CUP"' in html and ">Add to cart<" in html
    unavailable = client.get("/products/SCALE").text
    assert "Discontinued" in unavailable and "Add to cart" not in unavailable


@pytest.mark.parametrize("sku", ["NOPE", "tea", "TEA%20", "%25", "x" * 300])
def test_an_unknown_sku_is_the_404_page(client, catalog, sku):
    response = client.get(f"/products/{sku}")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Page not found" in response.text and "find that product" in response.text


def test_add_to_cart_comes_back_to_the_page_it_was_on(client, catalog):
    response = add_to_cart(client, "TEA", 2, next="/?q=tea&page=1")
    assert (response.status_code, response.location) == (302, "/?q=tea&page=1")
    assert "Added 2 × Product TEA to your cart." in flashes(client.get(response.location).text)
    assert add_to_cart(client, "CUP", 1).location == "/products/CUP"  # no page given: the product's
    assert add_to_cart(client, "CUP", 1, next="https://evil.example/").location == "/products/CUP"
    assert len(cart_of(client)) == 2


# -- statements per page: flat in the size of the catalog and of the cart -------------------------------


def queries(statements, client, path) -> list[str]:
    statements.clear()
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return [
        s.split()[0].upper()
        for s in statements
        if s.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK")
    ]


def catalog_of(session, n):
    session.add_all(
        Product(
            sku=f"S{i:04}", name=f"Shelf item {i:04}", price_cents=100 + i, inventory=Inventory(quantity=9)
        )
        for i in range(n)
    )
    session.commit()


@pytest.mark.parametrize("size", [10, 120])
def test_each_storefront_page_takes_the_same_few_statements_whatever_the_size(
    client, session, statements, size
):
    """Catalog and search: count + page. Product, cart, checkout: one statement each, however many lines."""
    catalog_of(session, size)
    lines = {f"S{i:04}": 1 for i in range(min(size, 60))}
    assert queries(statements, client, "/") == ["SELECT", "SELECT"]
    assert queries(statements, client, "/?page=3") == ["SELECT", "SELECT"]
    assert queries(statements, client, "/?q=shelf+item") == ["SELECT", "SELECT"]
    assert queries(statements, client, "/?q=nothing") == ["SELECT"]  # nothing counted: no page to read
    assert queries(statements, client, "/products/S0005") == ["SELECT"]
    fill_cart(client, lines)
    assert queries(statements, client, "/cart") == ["SELECT"]
    assert queries(statements, client, "/checkout") == ["SELECT"]
