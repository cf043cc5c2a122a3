"""`make bench-pages`: the storefront's pages under gunicorn, with 10 and with 10,000 products.

    .venv/bin/python -m bench.pages [--duration 5] [--rounds 2] [--clients 4] [--backends postgresql,sqlite]

For each backend (PostgreSQL databases ``shop_bench_pages_10`` and ``shop_bench_pages_10000`` on
127.0.0.1:5432, and two SQLite files under $TMPDIR), a catalog of 10 and one of 10,000 products is
built with the project's migrations and seeded (products, stock with its ``initial_stock`` ledger rows,
search terms). One gunicorn serves each catalog; wrk then GETs each page (the catalog's first page, a
search that finds one product in 80 ("sencha green"), a broad one that finds every other product
("tea") and a cart of 5 lines, through its session cookie) against the small and the
large catalog in turn, ``--rounds`` times, after a 1 s warm-up. Per page and size: requests/s (the mean
of the rounds), p50 and p99 (of the best round) and the page's HTML bytes.

Targets (issue 13): every page at most 100 KB of HTML; with 10,000 products at least 0.8× the
requests/s with 10. Writes bench/results-pages.md and bench/results-pages.json and refreshes the
README's "Storefront pages" table.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import BENCH_DIR, ROOT
from bench.database import SQLITE_DIR, migrate, pg_conninfo, pg_url
from bench.http_api import Gunicorn, http_workers, wrk_json
from bench.rows import log

SIZES = (10, 10_000)
PAGES = {
    "catalog": "/",
    "search": "/?q=sencha+green",  # 1 product of 10, 125 of 10,000
    "broad search": "/?q=tea",  # every product of 10, 5,000 of 10,000
    "cart": "/cart",
}
CART_LINES = 5
MAX_HTML_BYTES = 100 * 1024
MIN_RATIO = 0.8
README = ROOT / "README.md"
README_START, README_END = "<!-- bench-pages:start -->", "<!-- bench-pages:end -->"
TEAS = [
    "Sencha",
    "Assam",
    "Earl Grey",
    "Matcha",
    "Rooibos",
    "Oolong",
    "Darjeeling",
    "Chai",
    "Pu-erh",
    "Jasmine",
]
KINDS = ["green tea", "black tea", "cup", "teapot", "kettle", "strainer", "tea scale", "gift box"]


def catalogue(size: int) -> list[tuple[int, str, str, int, int]]:
    """(id, sku, name, price_cents, stock) of a catalog of ``size`` products; every tenth is low on stock.

    Names mix ten teas with eight kinds of goods ("Sencha green tea, no. 00001"): a search for
    "sencha green" finds one product in 80 (one of the 10), "tea" one in two (all of the 10).
    """
    rows = []
    for i in range(size):
        name = f"{TEAS[i % 10]} {KINDS[(i // 10) % 8]}, no. {i + 1:05d}"
        rows.append((i + 1, f"SKU-{i + 1:05d}", name, 100 + i % 5000, 2 if i % 10 == 9 else 50))
    return rows


# -- the databases -----------------------------------------------------------------------------


def _terms(rows) -> list[tuple[str, int]]:
    from shop.search import product_terms

    return [(term, pid) for pid, sku, name, _, _ in rows for term in sorted(product_terms(sku, name))]


def seed_pg(size: int) -> str:
    """A freshly migrated ``shop_bench_pages_<size>`` holding the catalog; its URL."""
    name = f"shop_bench_pages_{size}"
    with psycopg.connect(pg_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(pg_url(name))
    rows, now = catalogue(size), datetime.now(UTC).replace(tzinfo=None)
    with psycopg.connect(pg_conninfo(name)) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO products (id, sku, name, price_cents, status, low_stock_threshold, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, 'active', 5, %s, %s)",
            [(pid, sku, pname, price, now, now) for pid, sku, pname, price, _ in rows],
        )
        cur.execute("SELECT setval('products_id_seq', %s)", (size,))
        main = cur.execute("SELECT id FROM locations WHERE code = 'main'").fetchone()[0]
        cur.executemany(
            "INSERT INTO inventory (product_id, location_id, quantity, updated_at) VALUES (%s, %s, %s, %s)",
            [(pid, main, stock, now) for pid, _, _, _, stock in rows],
        )
        cur.executemany(
            "INSERT INTO inventory_movements (product_id, location_id, delta, quantity_after, reason, actor,"
            " created_at) VALUES (%s, %s, %s, %s, 'initial_stock', 'bench-seed', %s)",
            [(pid, main, stock, stock, now) for pid, _, _, _, stock in rows],
        )
        cur.executemany("INSERT INTO product_search_terms (term, product_id) VALUES (%s, %s)", _terms(rows))
    with psycopg.connect(pg_conninfo(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return pg_url(name)


def seed_sqlite(size: int) -> str:
    import sqlite3

    SQLITE_DIR.mkdir(parents=True, exist_ok=True)
    path = SQLITE_DIR / f"pages-{size}.sqlite"
    for old in SQLITE_DIR.glob(f"pages-{size}.sqlite*"):
        old.unlink()
    migrate(f"sqlite:///{path}")
    rows, now = catalogue(size), datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO products (id, sku, name, price_cents, status, low_stock_threshold, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 'active', 5, ?, ?)",
            [(pid, sku, pname, price, now, now) for pid, sku, pname, price, _ in rows],
        )
        main = conn.execute("SELECT id FROM locations WHERE code = 'main'").fetchone()[0]
        conn.executemany(
            "INSERT INTO inventory (product_id, location_id, quantity, updated_at) VALUES (?, ?, ?, ?)",
            [(pid, main, stock, now) for pid, _, _, _, stock in rows],
        )
        conn.executemany(
            "INSERT INTO inventory_movements (product_id, location_id, delta, quantity_after, reason, actor,"
            " created_at) VALUES (?, ?, ?, ?, 'initial_stock', 'bench-seed', ?)",
            [(pid, main, stock, stock, now) for pid, _, _, _, stock in rows],
        )
        conn.executemany("INSERT INTO product_search_terms (term, product_id) VALUES (?, ?)", _terms(rows))
    conn.execute("ANALYZE")
    conn.close()
    return f"sqlite:///{path}"


# -- HTTP --------------------------------------------------------------------------------------


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cart_cookie(base: str) -> str:
    """The session cookie of a visitor whose cart holds ``CART_LINES`` products (added through the forms)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    for pid in range(1, CART_LINES + 1):
        page = opener.open(f"{base}/products/SKU-{pid:05d}", timeout=10).read().decode()
        form = {"csrf_token": CSRF.search(page).group(1), "sku": f"SKU-{pid:05d}", "quantity": "1"}
        opener.open(f"{base}/cart/add", data=urllib.parse.urlencode(form).encode(), timeout=10).read()
    opener.open(f"{base}/cart", timeout=10).read()  # shows (and so clears) the last "Added" message
    [cookie] = [c for c in jar if c.name == "session"]
    return cookie.value


def get(base: str, path: str, cookie: str) -> tuple[int, int]:
    """(status, HTML bytes) of one GET."""
    request = urllib.request.Request(base + path, headers={"Cookie": f"session={cookie}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, len(response.read())


def wrk(url: str, cookie: str, clients: int, duration: float) -> dict:
    """GETs of ``url`` with the cart's session cookie (wrk_pages.lua) for ``duration`` seconds."""
    return wrk_json("wrk_pages.lua", url, clients, duration, headers=(f"Cookie: session={cookie}",))


@dataclass
class PageRow:
    backend: str
    page: str
    products: int
    html_bytes: int = 0
    rps: float = 0.0
    rps_rounds: list = field(default_factory=list)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0


def measure(base: str, row: PageRow, cookie: str, clients: int, duration: float) -> None:
    result = wrk(base + PAGES[row.page], cookie, clients, duration)
    ok = result["requests"] - result["status"]
    row.errors += sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    rps = round(ok / (result["duration_us"] / 1e6), 1)
    if not row.rps_rounds or rps > max(row.rps_rounds):
        row.p50_ms, row.p99_ms = round(result["p50_us"] / 1000, 2), round(result["p99_us"] / 1000, 2)
    row.rps_rounds.append(rps)
    row.rps = round(sum(row.rps_rounds) / len(row.rps_rounds), 1)


def run_backend(backend: str, options) -> list[PageRow]:
    """Both catalogs of one backend, each under its own gunicorn; each page measured on both in turn."""
    urls = {}
    for size in SIZES:
        log(f"{backend}: seeding {size} products")
        urls[size] = seed_pg(size) if backend == "postgresql" else seed_sqlite(size)
    servers = {size: Gunicorn(http_workers(options.clients), urls[size]) for size in SIZES}
    rows: list[PageRow] = []
    try:
        cookies = {}
        for size, server in servers.items():
            server.wait_ready()
            cookies[size] = cart_cookie(server.base)
        for page in PAGES:
            pair = {size: PageRow(backend, page, size) for size in SIZES}
            for size, row in pair.items():
                status, row.html_bytes = get(servers[size].base, PAGES[page], cookies[size])
                if status != 200:
                    raise RuntimeError(f"{backend} {page} with {size} products answered {status}")
                wrk(servers[size].base + PAGES[page], cookies[size], options.clients, 1)  # warm-up
            for _ in range(options.rounds):
                for size, row in pair.items():
                    measure(servers[size].base, row, cookies[size], options.clients, options.duration)
            for row in pair.values():
                log(
                    f"{backend:10} {page:7} {row.products:>6} products: {row.rps:8.1f} req/s "
                    f"p99 {row.p99_ms:6.2f} ms {row.html_bytes:>7} bytes {row.errors} errors"
                )
            rows += pair.values()
    finally:
        for server in servers.values():
            server.stop()
    return rows


# -- report ------------------------------------------------------------------------------------


def targets(rows: list[PageRow]) -> list[dict]:
    found = []
    by_key = {(r.backend, r.page, r.products): r for r in rows}
    for backend, page in dict.fromkeys((r.backend, r.page) for r in rows):
        small, large = by_key[(backend, page, SIZES[0])], by_key[(backend, page, SIZES[1])]
        ratio = round(large.rps / small.rps, 2) if small.rps else 0.0
        found.append(
            {
                "backend": backend,
                "page": page,
                "ratio": ratio,
                "ratio_met": ratio >= MIN_RATIO,
                "max_html_bytes": max(small.html_bytes, large.html_bytes),
                "bytes_met": max(small.html_bytes, large.html_bytes) <= MAX_HTML_BYTES,
                "errors": small.errors + large.errors,
            }
        )
    return found


def markdown(rows: list[PageRow], checks: list[dict], options, elapsed: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    ratio = {(c["backend"], c["page"]): c for c in checks}
    lines = [
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} by `make bench-pages` at commit "
        f"{commit.stdout.strip() or '?'}: gunicorn with {http_workers(options.clients)} sync workers, wrk with "
        f"{options.clients} connections, {options.rounds} rounds of {options.duration:g} s per page and size "
        f"(the two sizes alternate); whole run {elapsed:.0f} s on {os.cpu_count()} CPUs shared by the "
        "database, wrk and gunicorn. Load average before the run: "
        f"{', '.join(f'{x:.2f}' for x in options.load_start)}.",
        "",
        "| backend | page | products | requests/s | p50 ms | p99 ms | HTML bytes | × with 10 | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        check = ratio[(r.backend, r.page)]
        times = f"**{check['ratio']:.2f}**" if r.products == SIZES[1] else ""
        lines.append(
            f"| {r.backend} | {r.page} (`{PAGES[r.page]}`) | {r.products:,} | {r.rps:,.1f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.html_bytes:,} | {times} | {r.errors} |"
        )
    met_ratio = all(c["ratio_met"] for c in checks)
    met_bytes = all(c["bytes_met"] for c in checks)
    lines += [
        "",
        f"Targets: every page at most {MAX_HTML_BYTES // 1024} KB of HTML: **{'met' if met_bytes else 'not met'}** "
        f"(largest {max(c['max_html_bytes'] for c in checks):,} bytes); with 10,000 products at least "
        f"{MIN_RATIO}× the requests/s with 10: **{'met' if met_ratio else 'not met'}** (lowest "
        f"{min(c['ratio'] for c in checks):.2f}).",
    ]
    return "\n".join(lines) + "\n"


def update_readme(md: str) -> None:
    text = README.read_text()
    if README_START not in text:
        raise SystemExit(f"README.md has no {README_START} … {README_END} section to refresh")
    start, end = text.split(README_START)[0], text.split(README_END)[1]
    README.write_text(f"{start}{README_START}\n{md.strip()}\n{README_END}{end}")


def parse_options(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 5)))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--out", default=str(BENCH_DIR))
    options = parser.parse_args(argv)
    options.backends = options.backends.split(",")
    options.load_start = os.getloadavg()
    return options


def main(argv=None) -> int:
    options = parse_options(argv)
    started = time.monotonic()
    if options.load_start[0] > 0.5 * (os.cpu_count() or 1):
        log(f"warning: load average {options.load_start} before the run: other work skews the figures")
    rows = [row for backend in options.backends for row in run_backend(backend, options)]
    checks = targets(rows)
    md = markdown(rows, checks, options, time.monotonic() - started)
    out = Path(options.out)
    (out / "results-pages.md").write_text("# Storefront pages\n\n" + md)
    (out / "results-pages.json").write_text(
        json.dumps({"rows": [asdict(r) for r in rows], "targets": checks}, indent=2) + "\n"
    )
    if out.resolve() == BENCH_DIR.resolve() and set(options.backends) == {"postgresql", "sqlite"}:
        update_readme(md)
    print()
    print(md)
    failed = [c for c in checks if c["errors"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
