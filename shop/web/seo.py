"""What crawlers read besides the pages: ``/robots.txt`` and ``/sitemap.xml`` (the pages' own tags: ``presentation``).

``robots.txt`` keeps crawlers out of what is private or worthless to them (staff, cart, checkout,
order pages, the API, the probes) and names the sitemap; the sitemap lists the catalog and every
product that can be ordered now, at their ``SHOP_PUBLIC_URL`` addresses.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, url_for
from sqlalchemy import select

from ..extensions import db
from ..models import Product
from ..outbox.mail import public_url
from ..stock import IS_ORDERABLE

bp = Blueprint("seo", __name__)

PRIVATE = ["/staff/", "/cart", "/checkout", "/orders/", "/api/", "/healthz", "/readyz", "/metrics"]
MAX_URLS = 50_000  # the sitemap protocol's limit for one file


@bp.get("/robots.txt")
def robots_txt():
    lines = [
        "User-agent: *",
        *(f"Disallow: {path}" for path in PRIVATE),
        f"Sitemap: {public_url('/sitemap.xml')}",
    ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain")


@bp.get("/sitemap.xml")
def sitemap_xml():
    """The catalog and each orderable product, with when it last changed."""
    products = db.session.execute(
        select(Product.sku, Product.updated_at).where(IS_ORDERABLE).order_by(Product.sku).limit(MAX_URLS - 1)
    ).all()
    urls = [(public_url(url_for("catalog.index")), None)] + [
        (public_url(url_for("catalog.product", sku=sku)), updated.date().isoformat())
        for sku, updated in products
    ]
    return Response(render_template("seo/sitemap.xml", urls=urls), mimetype="application/xml")
