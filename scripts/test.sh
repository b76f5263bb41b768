#!/usr/bin/env bash
# README command 2: every check and every test, as CI runs them. Clippy and tests go package by
# package with explicit features: `--workspace` would unify app's ssr and hydrate features.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "setup"
scripts/setup.sh --browser

step "format"
cargo fmt --all -- --check

step "layers"
scripts/check-layers.sh

step "clippy"
cargo clippy -p app --features ssr --all-targets -- -D warnings
cargo clippy -p server --all-targets -- -D warnings
cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

step "unit and integration tests"
cargo test -p app --features ssr
cargo test -p server

step "release site build"
scripts/build-site.sh

step "API contract (schemathesis against /api/openapi.json)"
MINI_CRM_BIN=target/release/mini-crm scripts/api-contract.sh

step "browser tests (Playwright, Debian's Chromium)"
MINI_CRM_BIN=target/release/mini-crm npx playwright test --config end2end/playwright.config.ts
