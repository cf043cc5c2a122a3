"""Found by people and crawlers: Lighthouse scores the catalog and a product page (SEO at least 95, the rest 100).

Lighthouse 12.2.3 (npm, ``make browser``) runs Debian's Chromium headless against the live server;
every request that is not to 127.0.0.1 goes to a proxy that is not there, and the test checks that
none was made. What the pages say to crawlers, tag by tag: tests/web/test_seo_pages.py.
"""

from __future__ import annotations

import statistics

import pytest

from tests.support.browser import LIGHTHOUSE_CATEGORIES, lighthouse

PAGES = {"catalog": "/", "product": "/products/TEA-SENCHA"}


@pytest.mark.parametrize("name", PAGES)
def test_lighthouse_scores_the_storefront(browser_app, live_server, tmp_path, name):
    browser_app.config["SHOP_PUBLIC_URL"] = live_server  # canonical links and the sitemap on this server
    report = lighthouse(live_server + PAGES[name], tmp_path)

    scores = {category: report["categories"][category]["score"] for category in LIGHTHOUSE_CATEGORIES}
    if scores["performance"] < 1:
        # The performance score comes from timings, which a loaded machine stretches (0.98 was seen
        # while other work ran): as Lighthouse advises for variable scores, the median of three runs.
        again = [
            lighthouse(live_server + PAGES[name], tmp_path)["categories"]["performance"]["score"]
            for _ in "ab"
        ]
        scores["performance"] = statistics.median([scores["performance"], *again])
    failed = {
        audit_id: audit.get("explanation") or audit["title"]
        for audit_id, audit in report["audits"].items()
        if audit.get("score") is not None and audit["score"] < 1 and audit["scoreDisplayMode"] == "binary"
    }
    assert scores["seo"] >= 0.95, (scores, failed)
    assert {c: s for c, s in scores.items() if c != "seo"} == {
        "performance": 1,
        "accessibility": 1,
        "best-practices": 1,
    }, (scores, failed)
    requested = [item["url"] for item in report["audits"]["network-requests"]["details"]["items"]]
    assert requested and all(url.startswith(live_server + "/") for url in requested), requested
