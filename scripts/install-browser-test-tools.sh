#!/usr/bin/env bash
# What the browser app's tests need (tests/browser, and the Vitest suite in web/), installed
# when absent; starts nothing, configures nothing, safe to run again.
#   - Debian's chromium, which Playwright drives (never `playwright install`);
#   - web/node_modules from web/package-lock.json (axe-core for the accessibility check,
#     Vitest for the front-end unit tests).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: install Node.js 20 or later (Debian: nodejs and npm)" >&2
    exit 1
fi
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    npm ci --prefix web --no-audit --no-fund
fi
