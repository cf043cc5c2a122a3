"""Benchmarks (`make bench`): see bench/README.md."""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent  # bench/: SQL and Lua scripts, results.md, results.json
ROOT = BENCH_DIR.parent  # the repository: app.py, migrations, README.md
