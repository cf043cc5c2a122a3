#!/usr/bin/env bash
# Install Debian's Chromium and chromedriver for the browser tests.
# Idempotent: does nothing when both binaries are already present.
# Never downloads a browser build of its own: only Debian packages.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
    echo "install-chromium: $CHROMIUM and $CHROMEDRIVER already present"
    exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        echo "install-chromium: not root and sudo is not available" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends chromium chromium-driver

for bin in "$CHROMIUM" "$CHROMEDRIVER"; do
    if [[ ! -x "$bin" ]]; then
        echo "install-chromium: $bin still missing after install" >&2
        exit 1
    fi
done
"$CHROMIUM" --version || true
echo "install-chromium: done"
