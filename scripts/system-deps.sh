#!/usr/bin/env bash
# System packages the tests need, from Debian: Chromium for the report's browser test and
# PostgreSQL (a private server is started on loopback by tests/conftest.py).
# Installed only when missing; `apt-get update` runs once, before the first install.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "system-deps: missing ${need[*]}; install them with: apt-get install -y ${need[*]}" >&2
    # Outside CI the tests that need them skip; in CI they fail, as they should.
    exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "system-deps: installing ${need[*]} (Debian packages)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
