#!/usr/bin/env bash
# README command 1: install what is missing, build the site, create the demo database if it does
# not exist yet, and serve http://127.0.0.1:3000 (sign in as admin@example.com / password).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/setup.sh
scripts/build-site.sh

database_url=${DATABASE_URL:-sqlite://storage/database.sqlite}
if [[ "$database_url" == sqlite:* ]]; then
  database_file=${database_url#sqlite://}
  database_file=${database_file#sqlite:}
  database_file=${database_file%%\?*}
  if [ ! -f "$database_file" ]; then
    echo "dev: creating the demo database $database_file"
    target/release/mini-crm migrate --fresh --seed
    # The demo admin calls from (fake) Aircall line 1.
    target/release/mini-crm user aircall --email admin@example.com --line 1
  fi
fi

# The demo talks to fake WhatsApp, Aircall and HubSpot APIs on loopback, so messages, calls,
# reminders and the HubSpot sync work end to end (DEV_FAKE_PROVIDERS=0 keeps the providers of
# your .env). Drill an outage with:
#   curl -X POST 127.0.0.1:3999/_fake/fail -d '{"provider":"whatsapp","mode":"5xx","count":20}'
if [ "${DEV_FAKE_PROVIDERS:-1}" = "1" ]; then
  fake_addr=${DEV_FAKE_PROVIDERS_ADDR:-127.0.0.1:3999}
  target/release/mini-crm dev fake-providers --addr "$fake_addr" &
  fake_pid=$!
  trap 'kill "$fake_pid" 2>/dev/null || true' EXIT
  export WHATSAPP_API_BASE="http://$fake_addr" WHATSAPP_ACCESS_TOKEN=fake WHATSAPP_PHONE_NUMBER_ID=fake
  export AIRCALL_API_BASE="http://$fake_addr" AIRCALL_API_ID=fake AIRCALL_API_TOKEN=fake
  export HUBSPOT_API_BASE="http://$fake_addr" HUBSPOT_ACCESS_TOKEN=fake
  # The fake HubSpot starts empty: give it the unique lead-id property the sync waits for
  # (retried while the fake starts listening).
  for _ in $(seq 50); do
    target/release/mini-crm hubspot setup >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
target/release/mini-crm serve
