#!/usr/bin/env bash
# Install what the browser tests run from npm (package.json, package-lock.json): axe-core (accessibility)
# and Lighthouse (SEO, performance, best practices): `npm ci` into node_modules/. Idempotent: does
# nothing when the locked versions are already there.
# Installs Debian's nodejs and npm first when npm is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -f node_modules/axe-core/axe.min.js && -f node_modules/lighthouse/cli/index.js \
      && node_modules/.package-lock.json -nt package-lock.json ]]; then
    echo "install-node-packages: node_modules is up to date"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    SUDO=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo -n)
        else
            echo "install-node-packages: npm is missing, not root and sudo is not available" >&2
            exit 1
        fi
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi

npm ci --no-audit --no-fund --loglevel=error
echo "install-node-packages: axe-core $(node -p "require('./node_modules/axe-core/package.json').version")," \
    "lighthouse $(node -p "require('./node_modules/lighthouse/package.json').version") in node_modules/"
