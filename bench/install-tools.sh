#!/usr/bin/env bash
# Installs what `make bench` needs and is missing; does nothing when all is there.
#   Debian: pgbench (postgresql-client), wrk.   PyPI: the project's `bench` extra.
# Idempotent: apt-get runs only when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"

missing=()
pgbench_ok=false
for p in /usr/lib/postgresql/*/bin/pgbench; do [ -x "$p" ] && pgbench_ok=true; done
command -v pgbench >/dev/null 2>&1 && pgbench --version >/dev/null 2>&1 && pgbench_ok=true
$pgbench_ok || missing+=(postgresql-client)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! "$PY" -c "import gunicorn, pyinstrument" >/dev/null 2>&1; then
    echo "bench: installing the project's bench extra"
    "$PY" -m pip install -q -e ".[bench]"
fi
