"""The Oscar peer's commands, run with the Oscar virtualenv (``.venv-oscar``) from the repository root.

    .venv-oscar/bin/python -m bench.peers.oscar.peer setup       # after `manage.py migrate`: the catalogue
    .venv-oscar/bin/python -m bench.peers.oscar.peer statements  # SQL statements per order (JSON on stdout)
    .venv-oscar/bin/python -m bench.peers.oscar.peer work CASE SEED DURATION WARMUP

``work`` is one client of a row, started by bench/peers/oscar/row.py through
bench.processes.run_commands: it places WARMUP orders, prints ``BENCH {"ready": true}``, waits
for ``go`` on stdin, places orders for DURATION seconds (bench.workers' timed loop, as the
service rows) and prints its report as one ``BENCH {...}`` line.
"""

from __future__ import annotations

import json
import os
import random
import sys
from decimal import Decimal

from bench.database import catalogue
from bench.workers import LAST_UNITS, StdinBarrier, StdoutQueue, _guard, _timed_loop, order_product_ids


def setup() -> None:
    """The shop's catalogue as Oscar objects: one product class, one partner, products and stock records.

    Product and stock record ids equal the shop's product ids; stock is set by the runner's reset.
    """
    from django.db import transaction
    from oscar.core.loading import get_model

    product_class_model = get_model("catalogue", "ProductClass")
    partner_model = get_model("partner", "Partner")
    product_model = get_model("catalogue", "Product")
    stockrecord_model = get_model("partner", "StockRecord")
    with transaction.atomic():
        product_class = product_class_model.objects.create(
            name="Bench", track_stock=True, requires_shipping=False
        )
        partner = partner_model.objects.create(name="Bench partner")
        product_model.objects.bulk_create(
            product_model(
                id=pid,
                structure="standalone",
                upc=sku,
                title=name,
                slug=sku.lower(),
                product_class=product_class,
            )
            for pid, sku, name, _ in catalogue()
        )
        stockrecord_model.objects.bulk_create(
            stockrecord_model(
                id=pid,
                product_id=pid,
                partner=partner,
                partner_sku=sku,
                price=Decimal(price_cents) / 100,
                price_currency="GBP",
                num_in_stock=0,
                num_allocated=0,
            )
            for pid, sku, _, price_cents in catalogue()
        )


def statements(warmup: int = 5, repeat: int = 20) -> dict:
    """SQL statements per order (cursor executions; BEGIN and COMMIT not included), and one order's list."""
    from django.db import connection

    from bench.peers.oscar.checkout import place_order

    rng = random.Random(0)
    out = {}
    for case in ("hot", "spread"):
        for _ in range(warmup):
            place_order(order_product_ids(case, rng))
        seen: list[str] = []

        def count(execute, sql, params, many, context, seen=seen):
            seen.append(" ".join(sql.split())[:90])
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            for _ in range(repeat):
                place_order(order_product_ids(case, rng))
        out[case] = {"statements": len(seen) / repeat, "sql": seen[: len(seen) // repeat]}
    return out


def work(case: str, seed: int, duration: float, warmup: int, barrier, queue) -> None:
    """One client: place orders of ``case`` through Oscar's checkout for ``duration`` seconds."""
    from django.db import connection

    from bench.peers.oscar.checkout import Selector, SoldOut, place_order

    rng = random.Random(seed)
    strategy = Selector().strategy()

    def one() -> None:
        place_order(order_product_ids(case, rng), strategy)

    stop_on = (SoldOut,) if case == LAST_UNITS else ()
    _timed_loop(one, warmup=warmup, duration=duration, barrier=barrier, queue=queue, stop_on=stop_on)
    connection.close()


def main(argv: list[str]) -> None:
    """Set Django up and run one command."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.oscar.settings")
    import django

    django.setup()
    command, args = argv[0], argv[1:]
    if command == "setup":
        setup()
    elif command == "statements":
        print(json.dumps(statements()))
    elif command == "work":
        case, seed, duration, warmup = args[0], int(args[1]), float(args[2]), int(args[3])
        _guard(work, StdinBarrier(), StdoutQueue(), case, seed, duration, warmup)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
