#!/usr/bin/env bash
# The server Playwright tests run against: a fresh demo database in target/e2e, on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MINI_CRM_BIN:-target/release/mini-crm}
export DATABASE_URL="sqlite://target/e2e/database.sqlite"
export LEPTOS_SITE_ADDR="127.0.0.1:${E2E_PORT:-3100}"
export APP_URL="http://${LEPTOS_SITE_ADDR}"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
# The browser tests sign their own WhatsApp deliveries with this secret.
export WHATSAPP_APP_SECRET="e2e-whatsapp-secret"
rm -rf target/e2e
"$bin" migrate --fresh --seed >/dev/null
exec "$bin" serve
