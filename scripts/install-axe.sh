#!/usr/bin/env bash
# Install axe-core for the browser tests' accessibility checks (package.json, package-lock.json):
# `npm ci` into node_modules/. Idempotent: does nothing when the locked version is already there.
# Installs Debian's nodejs and npm first when npm is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -f node_modules/axe-core/axe.min.js && node_modules/.package-lock.json -nt package-lock.json ]]; then
    echo "install-axe: node_modules/axe-core is up to date"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    SUDO=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo -n)
        else
            echo "install-axe: npm is missing, not root and sudo is not available" >&2
            exit 1
        fi
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi

npm ci --no-audit --no-fund --loglevel=error
echo "install-axe: $(node -p "require('./node_modules/axe-core/package.json').version") in node_modules/axe-core"
