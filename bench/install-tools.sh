#!/usr/bin/env bash
# Installs what `make bench` needs and is missing; does nothing when all is there.
#   Debian: pgbench (postgresql-client), wrk.   PyPI: the project's `bench` extra, and django-oscar
#   (bench/peers/oscar/requirements.txt) in a virtualenv of its own, .venv-oscar.
# Idempotent: apt-get runs only when a tool is missing, pip only when a requirement changed.
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

# The Oscar peer (bench/peers/oscar): Django and Oscar stay out of the shop's venv and of `make test`.
OSCAR_VENV=.venv-oscar
OSCAR_REQUIREMENTS=bench/peers/oscar/requirements.txt
if ! cmp -s "$OSCAR_REQUIREMENTS" "$OSCAR_VENV/.installed" 2>/dev/null; then
    echo "bench: installing django-oscar into $OSCAR_VENV"
    [ -x "$OSCAR_VENV/bin/python" ] || "$PY" -m venv "$OSCAR_VENV"
    "$OSCAR_VENV/bin/python" -m pip install -q -r "$OSCAR_REQUIREMENTS"
    cp "$OSCAR_REQUIREMENTS" "$OSCAR_VENV/.installed"
fi
