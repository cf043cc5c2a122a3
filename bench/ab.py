"""A/B of code variants: client CPU and SQL statements per order, interleaved so background load cancels out.

    .venv/bin/python -m bench.ab [--rounds 8] [--cases hot,spread,l100,api] DIR_A DIR_B[=DATABASE] ...

Each DIR is a copy of the repository at one variant (for example ``git archive HEAD | tar -x -C
/tmp/a`` plus the files under test). Every round runs each variant once, in a shuffled order, in
its own process (this file with ``--one``, the variant as working directory: its ``shop`` and
``bench`` packages are the ones imported, so a variant may predate this file), against the
PostgreSQL database ``shop_bench`` that
``make bench`` builds (run that first: the catalogue must exist; the orders placed here stay
until the next ``make bench`` resets it). A variant whose schema differs names a database of its
own after ``=``, built by its own code: ``cd DIR && BENCH_DATABASE=NAME python -c "from
bench.database import setup_pg; setup_pg()"``. Per case the process places warm-up orders, then
chunks of orders, and reports the median CPU time per order of its chunks; the table shows the
median over the rounds, and each variant's speed against the first: the median over the rounds of
the first's CPU per order over its own in the same round (above 1: faster than the first).

Cases: ``hot`` (1 unit of HOT-0001), ``spread`` (3 random SKUs), ``l100`` (100 lines) through
``place_order`` + ``commit_unit_of_work``; ``api`` is ``POST /api/v1/orders`` (hot, anonymous,
fresh Idempotency-Key) through Flask's test client, so it counts the view's CPU but no HTTP server.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
import uuid

URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{os.environ.get('BENCH_DATABASE', 'shop_bench')}"
CASES = ("hot", "spread", "l100", "api")


def measure(cases: list[str]) -> dict:
    """In the variant's process: median CPU ms per order and statements per order, per case."""
    sys.path.insert(0, os.getcwd())  # the variant's packages, not this checkout's
    from sqlalchemy import event

    from bench.workers import HOT_SKU, order_lines, spread_sku
    from shop import create_app
    from shop.database import commit_unit_of_work
    from shop.extensions import db
    from shop.orders import place_order

    app = create_app({"DATABASE_URL": URL, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})
    rng = random.Random(1)
    statements: list[str] = []
    out: dict = {}
    with app.app_context():
        event.listen(
            db.engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql)
        )
        client = app.test_client()

        def post(_lines) -> None:
            # A customer of its own each time, as in a shop: one address or e-mail would reach the
            # held-units limit (SHOP_MAX_HELD_UNITS) after 20 orders; variants without the limit ignore
            # them. Drawn afresh in every run: the holds of earlier runs still count.
            customer = {"name": "Bench", "email": f"bench-{uuid.uuid4().hex[:12]}@example.com"}
            body = {"status": "confirmed", "customer": customer, "lines": [{"sku": HOT_SKU, "quantity": 1}]}
            response = client.post(
                "/api/v1/orders",
                data=json.dumps(body),
                content_type="application/json",
                headers={"Idempotency-Key": uuid.uuid4().hex},
                environ_base={
                    "REMOTE_ADDR": str(ipaddress.IPv4Address(0x0A000000 + secrets.randbelow(1 << 24)))
                },
            )
            assert response.status_code == 201, response.get_data(as_text=True)

        def place(lines) -> None:
            commit_unit_of_work(
                lambda: place_order(
                    db.session,
                    lines,
                    status="confirmed",
                    customer_name="Bench",
                    customer_email="bench@example.com",
                ),
                actor="bench",
            )

        for case in cases:
            run = post if case == "api" else place
            if case == "l100":
                lines, (per_chunk, chunks) = (lambda: [(spread_sku(p), 1) for p in range(1, 101)]), (4, 3)
            else:
                lines, (per_chunk, chunks) = (
                    (lambda case=case: order_lines("spread" if case == "spread" else "hot", rng)),
                    (40, 15),
                )
            for _ in range(10):
                run(lines())
            before, cpu = len(statements), []
            for _ in range(chunks):
                start = time.process_time()
                for _ in range(per_chunk):
                    run(lines())
                cpu.append((time.process_time() - start) / per_chunk * 1000)
            out[case] = {
                "cpu_ms": statistics.median(cpu),
                "statements": (len(statements) - before) / (per_chunk * chunks),
            }
        db.session.remove()
        db.engine.dispose()
    return out


def main(argv=None) -> int:
    """Run the rounds (or, with ``--one``, measure this variant) and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("variants", nargs="*")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    if args.one:
        print(json.dumps(measure(cases)))
        return 0
    results: dict[str, list[dict]] = {v: [] for v in args.variants}
    for round_ in range(1, args.rounds + 1):
        order = list(args.variants)
        random.shuffle(order)
        for variant in order:
            directory, _, database = variant.partition("=")
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--one", "--cases", ",".join(cases)],
                cwd=directory,
                env={**os.environ, "BENCH_DATABASE": database} if database else None,
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            results[variant].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"round {round_}/{args.rounds} done, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    first = results[args.variants[0]]
    print("| variant | " + " | ".join(f"{c} CPU ms | {c} speed | {c} statements" for c in cases) + " |")
    print("|---|" + "---:|---:|---:|" * len(cases))
    for variant, runs in results.items():
        cells = []
        for case in cases:
            # Paired by round: the first variant's CPU over this one's, in the same round (drift cancels).
            pairs = zip(first, runs, strict=True)
            speed = statistics.median(a[case]["cpu_ms"] / r[case]["cpu_ms"] for a, r in pairs)
            cells.append(f"{statistics.median(r[case]['cpu_ms'] for r in runs):.2f}")
            cells.append(f"{speed:.2f}x")
            cells.append(f"{statistics.median(r[case]['statements'] for r in runs):g}")
        print(f"| {variant} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
