"""The browser tests: Playwright driving Chromium against a live server of the UI.

Playwright for Python drives Debian's Chromium (``/usr/bin/chromium``, installed
by ``scripts/install-chromium.sh``). Playwright's own browser downloads are
never used: the machines have no network beyond the package registries.

Fixtures:

``browser``      session-scoped Playwright ``Browser``.
``page``         a fresh ``Page`` in a new context per test (1280x900).
``live_server``  serves the Flask app from the ``browser_app`` fixture on
                 127.0.0.1 with a random port and yields its base URL
                 (``"http://127.0.0.1:PORT"``, no trailing slash).
``screenshot``   the ``screenshot(page, name)`` helper below, as a fixture.
``browser_app``  the real shop on SQLite with the demo catalog and a staff
                 user (``STAFF_EMAIL`` / ``STAFF_PASSWORD`` below, which
                 ``log_in(page, base_url)`` uses).

``assert_accessible(page)`` runs axe-core (npm, ``make browser`` installs it
into node_modules/) on the page and fails on any serious or critical
violation; ``tab_to(page, selector)`` moves the focus with the Tab key alone.

A browser test that serves another app overrides ``browser_app`` (in its
module or in a conftest next to it), for example::

    @pytest.fixture
    def browser_app(tmp_path):
        # Point the app at a file-backed SQLite database under tmp_path: the
        # live server runs in another thread, and an in-memory database would
        # not be shared with it.
        app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False,
                          "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}"})
        ...  # create tables, seed data
        return app

When Chromium or Playwright is missing the tests are skipped locally with a
hint, and fail when ``CI`` is set, so CI never goes green without running them.
"""

from __future__ import annotations

import json
import os
import re
import threading
from functools import cache
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "browser" / "screenshots"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")

# Never let Playwright try to fetch a browser build of its own.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def _unavailable(reason: str) -> None:
    hint = f"{reason} (run scripts/install-chromium.sh and pip install playwright)"
    if os.environ.get("CI"):
        pytest.fail(hint, pytrace=False)
    pytest.skip(hint)


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` as ``tests/browser/screenshots/<name>.png``.

    The folder is created on demand and is gitignored. Returns the path.
    """
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    gitignore = SCREENSHOT_DIR / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n!.gitignore\n")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "screenshot"
    path = SCREENSHOT_DIR / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@cache
def _axe_source() -> str:
    if not AXE.is_file():
        _unavailable(f"axe-core not found at {AXE} (make browser runs npm ci)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page, impacts=FAILING_IMPACTS) -> list[dict]:
    """axe-core's violations on ``page`` whose impact is one of ``impacts`` (id, impact, help, nodes).

    The script goes in through the DevTools protocol, which the pages' Content-Security-Policy
    (no scripts at all) does not stop; the pages themselves never load it.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in violations if v["impact"] in impacts]


def assert_accessible(page) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    found = axe_violations(page)
    assert not found, f"{page.url}: " + json.dumps(found, indent=1)


def tab_to(page, selector: str, *, limit: int = 120, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches ``selector``, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{page.url}: the Tab key never reached {selector}")


@pytest.fixture(name="screenshot")
def _screenshot_fixture():
    """The ``screenshot(page, name)`` helper, for tests that prefer a fixture."""
    return screenshot


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=60_000,
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def live_server(browser_app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, browser_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# -- the shop itself, for the browser tests of its pages -----------------------------------

STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "correct horse battery"


@pytest.fixture
def browser_app(tmp_path):
    """The real shop on a migrated file-backed SQLite database with the demo catalog and a staff user.

    CSRF stays on: the browser submits the forms' tokens like any visitor.
    """
    from flask_migrate import upgrade

    from shop import create_app
    from shop.database import commit_unit_of_work
    from shop.demo import seed_demo_catalog
    from shop.extensions import db
    from shop.models import User

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "browser-tests",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite'}",
        }
    )
    with app.app_context():
        upgrade()

        def seed():
            seed_demo_catalog(db.session)
            user = User(email=STAFF_EMAIL, is_staff=True)
            user.set_password(STAFF_PASSWORD)
            db.session.add(user)

        commit_unit_of_work(seed, actor="seed")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def log_in(page, base_url: str, next_path: str = "/staff/") -> None:
    """Log the page in as the staff user through the login form."""
    page.goto(f"{base_url}/staff/login?next={next_path}")
    page.get_by_label("E-mail address").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}{next_path}")


# -- Lighthouse ----------------------------------------------------------------------------------

LIGHTHOUSE = Path(__file__).resolve().parents[2] / "node_modules" / "lighthouse" / "cli" / "index.js"
LIGHTHOUSE_CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
# Every request that is not to 127.0.0.1 goes to a proxy that is not there: nothing reaches the network.
NO_NETWORK = "--proxy-server=http://127.0.0.1:9"


def lighthouse(url: str, tmp_path: Path) -> dict:
    """Lighthouse's report (JSON) of ``url``, run on Debian's Chromium, headless, with no network beyond 127.0.0.1."""
    import subprocess

    if not LIGHTHOUSE.is_file():
        _unavailable(f"Lighthouse not found at {LIGHTHOUSE} (make browser runs npm ci)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    report = tmp_path / "lighthouse.json"
    finished = subprocess.run(
        [
            "node",
            str(LIGHTHOUSE),
            url,
            "--output=json",
            f"--output-path={report}",
            "--quiet",
            "--no-enable-error-reporting",
            f"--only-categories={','.join(LIGHTHOUSE_CATEGORIES)}",
            "--chrome-flags=" + " ".join(["--headless=new", *CHROMIUM_ARGS[1:], NO_NETWORK]),
        ],
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(report.read_text())
