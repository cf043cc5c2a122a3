"""Profile the service-layer hot path: place_order + commit_unit_of_work on the hot SKU.

    .venv/bin/python -m bench.profile [--orders 1000] [--case hot|spread] [--tool pyinstrument|cprofile|none]

Runs in one process against ``shop_bench`` (built and reset by bench/database.py) and writes
to bench/profile/:
  <case>-pyinstrument.txt / .html   wall-clock call tree (includes waiting on PostgreSQL)
  <case>-cpu.txt                    cProfile with a CPU-time clock: where the Python CPU goes
With ``--tool none`` it only places orders, for an outside sampler:
    py-spy record -o bench/profile/hot.svg -- .venv/bin/python -m bench.profile --tool none
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time
from pathlib import Path

from bench import workers
from bench.database import pg_url, reset_pg, setup_pg

OUT = Path(__file__).resolve().parent / "profile"


def main(argv=None) -> int:
    """Place orders on ``shop_bench`` and write the profiles to bench/profile/."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--case", choices=("hot", "spread"), default="hot")
    parser.add_argument("--tool", choices=("pyinstrument", "cprofile", "both", "none"), default="both")
    parser.add_argument("--no-setup", action="store_true", help="reuse shop_bench as it is (reset only)")
    args = parser.parse_args(argv)

    if not args.no_setup:
        setup_pg()
    reset_pg()

    from shop import create_app
    from shop.extensions import db

    app = create_app({"DATABASE_URL": pg_url(), "SECRET_KEY": "bench"})
    rng = random.Random(1)
    OUT.mkdir(exist_ok=True)

    with app.app_context():

        def one() -> None:
            workers.place_service_order(workers.order_lines(args.case, rng))

        def batch() -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.orders):
                one()
            return (
                (time.perf_counter() - wall) / args.orders * 1000,
                (time.process_time() - cpu) / args.orders * 1000,
            )

        for _ in range(50):
            one()
        wall, cpu = batch()
        print(f"{args.case}: {wall:.2f} ms/order wall, {cpu:.2f} ms/order CPU (no profiler)")

        if args.tool in ("pyinstrument", "both"):
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
            batch()
            profiler.stop()
            (OUT / f"{args.case}-pyinstrument.txt").write_text(
                profiler.output_text(unicode=True, color=False, show_all=False)
            )
            (OUT / f"{args.case}-pyinstrument.html").write_text(profiler.output_html())
            print(f"wrote {OUT / (args.case + '-pyinstrument.txt')} and .html")
        if args.tool in ("cprofile", "both"):
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            batch()
            profiler.disable()
            buf = io.StringIO()
            stats = pstats.Stats(profiler, stream=buf)
            buf.write(f"CPU-time profile of {args.orders} orders ({args.case})\n")
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(25)
            (OUT / f"{args.case}-cpu.txt").write_text(buf.getvalue())
            print(f"wrote {OUT / (args.case + '-cpu.txt')}")
        db.session.remove()
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
