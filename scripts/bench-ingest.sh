#!/usr/bin/env bash
# Webhook ingest benchmark (SPEC §7): signed WhatsApp deliveries with distinct ids, from wrk on
# loopback, against the release binary on a fresh SQLite file with synchronous=FULL. Prints the
# rate of stored deliveries, p99 latency, acknowledged vs stored counts, and the same run's rate
# for a bare 200 route (the Meta handshake: no database) as the ceiling.
#   scripts/bench-ingest.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
bin=${MINI_CRM_BIN:-target/release/mini-crm}
command -v wrk >/dev/null || { echo "bench-ingest: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$bin" ] || cargo build --release -p server

work=target/bench/ingest
rm -rf "$work" && mkdir -p "$work"
secret=bench-secret
port=3102

# Pre-signed bodies, distinct message ids: enough for the whole run at well above the target.
python3 - "$work/deliveries.txt" "$secret" $((seconds * 40000)) <<'PY'
import hashlib, hmac, sys
path, secret, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
with open(path, "w") as out:
    for n in range(count):
        body = ('{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages",'
                '"value":{"messages":[{"from":"34%09d","id":"wamid.bench.%d","timestamp":"1749416383",'
                '"type":"text","text":{"body":"hola"}}]}}]}]}') % (600000000 + n % 99999999, n)
        sig = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
        out.write("sha256=%s\t%s\n" % (sig, body))
PY

cat >"$work/deliveries.lua" <<LUA
local deliveries = {}
for line in io.lines("$work/deliveries.txt") do
  local sig, body = line:match("([^\t]+)\t(.*)")
  deliveries[#deliveries + 1] = { sig, body }
end
local i = 0
request = function()
  i = i + 1
  local d = deliveries[i]
  return wrk.format("POST", "/webhooks/whatsapp",
    { ["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = d[1] }, d[2])
end
done = function(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
  local f = io.open("$work/acknowledged.txt", "w")
  f:write(summary.requests - failed, "\n")
  f:close()
end
LUA

# The worker is paused so the benchmark measures intake alone (processing has its own queue).
export DATABASE_URL="sqlite://$work/database.sqlite" LEPTOS_SITE_ADDR="127.0.0.1:$port"
export WHATSAPP_APP_SECRET=$secret WHATSAPP_VERIFY_TOKEN=bench RUST_LOG=warn
"$bin" migrate >/dev/null
"$bin" queue pause inbound >/dev/null
"$bin" serve 2>"$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://$LEPTOS_SITE_ADDR/login" >/dev/null && break; sleep 0.1; done

echo "== bare 200 route (ceiling): GET /webhooks/whatsapp handshake"
wrk -t1 -c"$connections" -d"${seconds}s" --latency \
  "http://$LEPTOS_SITE_ADDR/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=bench&hub.challenge=1" \
  | grep -E "Requests/sec|99%"
echo "== signed deliveries stored durably: POST /webhooks/whatsapp"
wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/deliveries.lua" "http://$LEPTOS_SITE_ADDR" \
  | grep -E "Requests/sec|99%|requests in|Non-2xx"
kill "$server" && wait "$server" 2>/dev/null || true
acknowledged=$(cat "$work/acknowledged.txt")
stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM webhook_events').fetchone()[0])" "$work/database.sqlite")
echo "acknowledged: $acknowledged  stored: $stored"
[ "$acknowledged" -le "$stored" ] || { echo "bench-ingest: acknowledged deliveries are missing" >&2; exit 1; }
