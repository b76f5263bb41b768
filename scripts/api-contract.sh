#!/usr/bin/env bash
# Property-based contract test of the JSON API: schemathesis (PyPI) generates requests from
# /api/openapi.json, with a bearer token, and checks that no answer is a 5xx and every answer
# matches the document. Runs the given binary on a fresh demo database on 127.0.0.1:3101.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MINI_CRM_BIN:-target/release/mini-crm}
venv=target/venv

if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

export DATABASE_URL="sqlite://target/api-contract/database.sqlite"
export LEPTOS_SITE_ADDR="127.0.0.1:3101"
rm -rf target/api-contract
"$bin" migrate --fresh --seed >/dev/null
token=$("$bin" token create --name schemathesis | tail -n 1)

"$bin" serve 2>target/api-contract.log &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

"$venv/bin/schemathesis" run "http://$LEPTOS_SITE_ADDR/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples 60 \
  --wait-for-schema 30 \
  --workers 1
