#!/usr/bin/env bash
# Installs what building and testing mini-crm needs and a fresh machine lacks. Idempotent: each
# step checks first. Needs only the Rust toolchain, Node/npm and (for the browser) apt.
#   scripts/setup.sh             build tools only
#   scripts/setup.sh --browser   also Debian's Chromium, for the Playwright tests
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Must equal the `wasm-bindgen = "=…"` pin in Cargo.toml.
WASM_BINDGEN_VERSION=0.2.130

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  echo "setup: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  # Not --locked: its lockfile names a crate version the registry here lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# The test command also needs curl (scripts/health_check.sh and the runbooks use it).
if [ "${1:-}" = "--browser" ] && { [ ! -x /usr/bin/chromium ] || ! command -v curl >/dev/null; }; then
  echo "setup: installing Debian's chromium and curl"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium curl >/dev/null
fi

# Playwright's own browser download is never used (it cannot work offline): Debian's Chromium is.
if [ ! -d node_modules/@playwright/test ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
