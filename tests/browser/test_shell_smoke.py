"""Smoke test of the visual shell and the browser harness.

Serves a throwaway Flask app that uses the real ``shop/templates`` and
``shop/static`` folders (without importing the ``shop`` package), renders a
demo page extending ``base.html`` with every UI component, and checks it in
Chromium at desktop and phone widths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, flash, render_template, render_template_string

SHOP_DIR = Path(__file__).resolve().parents[2] / "shop"

DEMO_PAGE = """
{% extends "base.html" %}
{% block title %}Demo{% endblock %}
{% block content %}
<div class="page-header">
  <div>
    <h1>Catalog</h1>
    <p>Everything in stock ships today.</p>
  </div>
  <div class="actions">
    <a class="btn btn-secondary" href="#">View cart</a>
    <a class="btn btn-primary" href="#">Checkout</a>
  </div>
</div>

<ul class="product-grid">
  {% for p in products %}
  <li class="product-card{% if p.disabled %} is-disabled{% endif %}">
    <h2 class="product-name">{{ p.name }}</h2>
    <span class="sku">{{ p.sku }}</span>
    <span class="price">{{ p.price }}</span>
    <span class="badge {{ p.badge }}">{{ p.label }}</span>
    <form class="inline-form" action="#" method="post">
      <div class="field">
        <label for="qty-{{ loop.index }}">Qty</label>
        <input id="qty-{{ loop.index }}" name="quantity" type="number" min="1" value="1"
               {% if p.disabled %}disabled{% endif %}>
      </div>
      <button class="btn btn-primary" type="submit" {% if p.disabled %}disabled{% endif %}>Add to cart</button>
    </form>
  </li>
  {% endfor %}
</ul>

<div class="layout-2">
  <section class="card">
    <h2 class="card-title">Stock</h2>
    <div class="table-wrap">
      <table>
        <thead>
          <tr><th>SKU</th><th>Product</th><th class="num">On hand</th><th class="num">Threshold</th>
              <th>Availability</th><th>Last order</th><th></th></tr>
        </thead>
        <tbody>
          {% for p in products %}
          <tr{% if p.low %} class="is-low-stock"{% endif %}>
            <td class="sku">{{ p.sku }}</td>
            <td>{{ p.name }}{% if p.low %} <span class="low-stock-flag">Low stock</span>{% endif %}</td>
            <td class="num">{{ p.qty }}</td>
            <td class="num">5</td>
            <td><span class="badge {{ p.badge }}">{{ p.label }}</span></td>
            <td><span class="status status-{{ p.status }}">{{ p.status }}</span></td>
            <td><a class="btn btn-sm btn-secondary" href="#">Adjust</a></td>
          </tr>
          {% endfor %}
        </tbody>
      </table>
    </div>
    <nav aria-label="Pagination">
      <ul class="pagination">
        <li><span class="disabled">&laquo; Prev</span></li>
        <li><a href="#" aria-current="page">1</a></li>
        <li><a href="#">2</a></li>
        <li><a href="#">3</a></li>
        <li><a href="#">Next &raquo;</a></li>
      </ul>
    </nav>
  </section>

  <aside class="card">
    <h2 class="card-title">Your details</h2>
    <form class="form" action="#" method="post" novalidate>
      <div class="field">
        <label for="name">Name</label>
        <input id="name" name="name" type="text" value="Ada Lovelace" autocomplete="name">
      </div>
      <div class="field">
        <label for="email">Email</label>
        <input id="email" name="email" type="email" value="ada@" aria-invalid="true"
               aria-describedby="email-error">
        <p class="field-error" id="email-error">Enter a valid email address.</p>
      </div>
      <div class="field">
        <label for="reason">Reason</label>
        <select id="reason" name="reason"><option>restock</option><option>adjustment</option></select>
        <p class="help">Shown in the ledger.</p>
      </div>
      <label class="check"><input type="checkbox" checked> Email me a receipt</label>
      <div class="form-actions">
        <button class="btn btn-primary" type="submit">Place order</button>
        <button class="btn btn-secondary" type="button">Save draft</button>
        <button class="btn btn-danger btn-sm" type="button">Cancel order</button>
      </div>
    </form>
    <dl class="meta">
      <dt>Order</dt><dd class="mono">7QK2-M9XD</dd>
      <dt>Status</dt><dd><span class="status status-paid">paid</span></dd>
    </dl>
  </aside>
</div>

<figure class="chart">
  <svg viewBox="0 0 600 160" role="img" aria-label="Stock over time">
    <line class="chart-grid" x1="40" y1="20" x2="590" y2="20"/>
    <line class="chart-grid" x1="40" y1="80" x2="590" y2="80"/>
    <line class="chart-axis" x1="40" y1="140" x2="590" y2="140"/>
    <line class="chart-threshold" x1="40" y1="120" x2="590" y2="120"/>
    <path class="chart-area" d="M40 40 L150 60 L260 90 L370 50 L480 110 L590 125 L590 140 L40 140 Z"/>
    <polyline class="chart-line" points="40,40 150,60 260,90 370,50 480,110 590,125"/>
    <circle class="chart-point" cx="590" cy="125" r="4"/>
    <text class="chart-label" x="4" y="24">20</text>
    <text class="chart-label" x="4" y="144">0</text>
  </svg>
  <figcaption>Stock of A-1 over the last 30 days.</figcaption>
</figure>
<p class="empty">No orders yet.</p>
{% endblock %}
"""

PRODUCTS = [
    dict(
        sku="A-1",
        name="Espresso beans 1 kg",
        price="€24.00",
        qty=42,
        badge="badge-in-stock",
        label="In stock",
        status="paid",
    ),
    dict(
        sku="B-7",
        name="Ceramic pour-over dripper",
        price="€18.50",
        qty=3,
        low=True,
        badge="badge-low",
        label="Only 3 left",
        status="confirmed",
    ),
    dict(
        sku="C-3",
        name="Gooseneck kettle",
        price="€49.00",
        qty=0,
        disabled=True,
        badge="badge-out",
        label="Out of stock",
        status="draft",
    ),
    dict(
        sku="D-9",
        name="Paper filters (100)",
        price="€4.90",
        qty=12,
        disabled=True,
        badge="badge-unavailable",
        label="Temporarily unavailable",
        status="cancelled",
    ),
    dict(
        sku="E-2",
        name="Hand grinder, classic",
        price="€65.00",
        qty=0,
        disabled=True,
        badge="badge-discontinued",
        label="Discontinued",
        status="cancelled",
    ),
]


@pytest.fixture
def browser_app():
    app = Flask(
        "shell_smoke",
        template_folder=str(SHOP_DIR / "templates"),
        static_folder=str(SHOP_DIR / "static"),
    )
    app.config.update(TESTING=True, SECRET_KEY="smoke-test")

    @app.get("/")
    def demo():
        flash("Order 7QK2-M9XD placed. Thank you!", "success")
        flash(
            "We could not place your order:\n- B-7: only 3 left, you asked for 5\n- E-2: discontinued",
            "error",
        )
        flash("Prices include VAT.", "info")
        return render_template_string(DEMO_PAGE, products=PRODUCTS)

    @app.errorhandler(404)
    def not_found(error):
        return (
            render_template(
                "errors/error.html",
                code=404,
                title="Page not found",
                message="We couldn't find that page.",
            ),
            404,
        )

    return app


def test_shell_renders_with_stylesheet(page, live_server, screenshot):
    response = page.goto(live_server + "/")
    assert response is not None and response.ok
    assert page.title() == "Demo · Shop"

    # The stylesheet loaded: a system sans-serif stack, not the default serif.
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert font.startswith("system-ui"), font
    css = page.request.get(live_server + "/static/shop.css")
    assert css.ok

    # Flash messages of each category are visible; the multi-line error is a list.
    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert alert.locator("li").all_inner_texts() == [
        "B-7: only 3 left, you asked for 5",
        "E-2: discontinued",
    ]
    assert page.locator(".flash-success").is_visible()
    assert page.locator(".flash-info").is_visible()
    assert (
        page.locator(".badge-discontinued").first.evaluate("e => getComputedStyle(e).textDecorationLine")
        == "line-through"
    )

    screenshot(page, "shell-desktop")

    # Keyboard: the first Tab lands on the skip link, which then shows on screen.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0
    screenshot(page, "shell-desktop-skip-link", full_page=False)

    # Phone width: nothing overflows the viewport (tables scroll inside their wrapper).
    page.set_viewport_size({"width": 375, "height": 812})
    page.evaluate("document.activeElement.blur()")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page is {overflow}px wider than a 375px phone"
    screenshot(page, "shell-phone")


def test_error_page(page, live_server, screenshot):
    response = page.goto(live_server + "/no-such-page")
    assert response is not None and response.status == 404
    assert page.title() == "Page not found · Shop"
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert page.get_by_role("link", name="Back to the catalog").get_attribute("href") == "/"
    screenshot(page, "error-404")
