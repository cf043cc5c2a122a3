"""What the storefront tells crawlers: descriptions, canonical links, noindex, robots.txt, the sitemap, JSON-LD.

Lighthouse's scores of the same pages: tests/browser/test_seo.py.
"""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import pytest

PUBLIC = "https://shop.example.com"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(autouse=True)
def public_url(app):
    app.config["SHOP_PUBLIC_URL"] = PUBLIC


def tag(page: str, pattern: str) -> list[str]:
    return re.findall(pattern, page)


def description(page: str) -> list[str]:
    return tag(page, r'<meta name="description" content="([^"]*)">')


def canonical(page: str) -> list[str]:
    return tag(page, r'<link rel="canonical" href="([^"]*)">')


def noindex(page: str) -> bool:
    return '<meta name="robots" content="noindex">' in page


def structured_data(page: str) -> dict:
    (found,) = tag(page, r'<script type="application/ld\+json">(.*?)</script>')
    return json.loads(found)


def test_robots_txt_keeps_crawlers_out_of_private_pages_and_names_the_sitemap(client):
    answer = client.get("/robots.txt")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    lines = answer.text.splitlines()
    assert lines[0] == "User-agent: *"
    for private in ("/staff/", "/cart", "/checkout", "/orders/", "/api/"):
        assert f"Disallow: {private}" in lines
    assert "Disallow: /" not in lines and "Disallow: /products/" not in lines
    assert lines[-1] == f"Sitemap: {PUBLIC}/sitemap.xml"


def test_the_sitemap_lists_the_catalog_and_the_orderable_products_only(client, catalog):
    answer = client.get("/sitemap.xml")
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    urls = ElementTree.fromstring(answer.data).findall(f"{SITEMAP}url")
    locations = [url.findtext(f"{SITEMAP}loc") for url in urls]
    assert locations == [f"{PUBLIC}/", f"{PUBLIC}/products/CUP", f"{PUBLIC}/products/TEA"], (
        "sold out, unavailable, discontinued and unstocked products are left out"
    )
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", url.findtext(f"{SITEMAP}lastmod")) for url in urls[1:])


def test_a_product_page_has_its_description_canonical_link_and_product_json_ld(client, catalog):
    page = client.get("/products/TEA").text
    assert description(page) == ["Product TEA (TEA): €12.50, in stock. Order online."]
    assert canonical(page) == [f"{PUBLIC}/products/TEA"] and not noindex(page)
    assert structured_data(page) == {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Product TEA",
        "sku": "TEA",
        "url": f"{PUBLIC}/products/TEA",
        "offers": {
            "@type": "Offer",
            "url": f"{PUBLIC}/products/TEA",
            "price": "12.50",
            "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock",
        },
    }


@pytest.mark.parametrize(
    ("sku", "availability"),
    [
        ("CUP", "LimitedAvailability"),
        ("POT", "OutOfStock"),
        ("KETTLE", "OutOfStock"),
        ("SCALE", "Discontinued"),
        ("GIFT", "OutOfStock"),
    ],
)
def test_the_json_ld_availability_follows_the_products(client, catalog, sku, availability):
    offer = structured_data(client.get(f"/products/{sku}").text)["offers"]
    assert offer["availability"] == f"https://schema.org/{availability}"


def test_the_json_ld_cannot_be_broken_out_of_by_a_products_name(client, session):
    from tests.support.factories import add_product

    product = add_product(session, "TRICK", 5)
    product.name = "</script><script>alert(1)</script>"
    session.commit()
    page = client.get("/products/TRICK").text
    assert "</script><script>" not in page
    assert structured_data(page)["name"] == "</script><script>alert(1)</script>"


def test_the_catalog_pages_are_canonical_and_searches_are_not_indexed(app, client, catalog):
    app.config["SHOP_CATALOG_PAGE_SIZE"] = 2
    first = client.get("/").text
    assert canonical(first) == [f"{PUBLIC}/"] and not noindex(first)
    assert description(first) == ["6 products to order online, with prices and availability."]
    assert canonical(client.get("/?page=2").text) == [f"{PUBLIC}/?page=2"]
    search = client.get("/?q=tea").text
    assert noindex(search) and canonical(search) == [f"{PUBLIC}/"]


@pytest.mark.parametrize("path", ["/cart", "/staff/login", "/products/NO-SUCH"])
def test_private_and_error_pages_are_not_indexed(client, catalog, path):
    page = client.get(path).text
    assert noindex(page) and canonical(page) == []
