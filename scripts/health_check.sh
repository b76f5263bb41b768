#!/usr/bin/env bash
# One-line health summary of a mini-crm instance, from its /healthz.
#   METRICS_TOKEN=… scripts/health_check.sh https://crm.example.com/healthz
# Exit status: 0 healthy, 1 degraded (an open breaker, a queue backlog or a disk nearly full: the
# app serves, a provider, the queue or the disk needs attention), 2 down or unreachable.
# /healthz gives its details (queues, breakers, version) only to METRICS_TOKEN (from the
# environment); without it the line has the status alone.
set -uo pipefail
url=${1:?usage: scripts/health_check.sh URL (e.g. http://127.0.0.1:3000/healthz)}
# The token goes to curl on its standard input, not its command line (which `ps` shows).
body=$(if [ -n "${METRICS_TOKEN:-}" ]; then printf 'header = "Authorization: Bearer %s"\n' "$METRICS_TOKEN"; fi |
  curl -sS --max-time 10 --config - -w '\n%{http_code}' "$url" 2>&1)
code=${body##*$'\n'}
body=${body%$'\n'*}
HEALTH_BODY=$body HEALTH_CODE=$code HEALTH_URL=$url python3 - <<'PY'
import json, os, sys
url, code, body = os.environ["HEALTH_URL"], os.environ["HEALTH_CODE"], os.environ["HEALTH_BODY"]
try:
    health = json.loads(body)
except ValueError:
    print(f"DOWN {url}: HTTP {code}, {body.strip()[:200] or 'no answer'}")
    sys.exit(2)
status = health.get("status", "down")
if status == "down" or code != "200":
    database = health.get("database")
    detail = f", database {'ok' if database.get('ok') else 'failing'}" if database else ""
    print(f"DOWN {url}: HTTP {code}{detail}")
    sys.exit(2)
exit_code = 0 if status == "ok" else 1
if "database" not in health:
    print(f"{status.upper()} {url}: no details (set METRICS_TOKEN to see queues and breakers)")
    sys.exit(exit_code)
queues = health.get("queues", {})
pending = sum(q.get("pending", 0) for q in queues.values())
failed = sum(q.get("failed", 0) for q in queues.values())
oldest = max((q.get("oldest_pending_seconds") or 0 for q in queues.values()), default=0)
open_breakers = [p for p, b in health.get("breakers", {}).items() if b.get("state") == "open"]
held = [f"{name} ({q['held']})" for name, q in queues.items() if q.get("held")]
summary = (
    f"{status.upper()} {url}: version {health.get('version')}, database {health['database'].get('latency_ms')} ms, "
    f"{pending} pending (oldest {oldest} s), {failed} failed, "
    f"breakers open: {', '.join(open_breakers) or 'none'}"
    + (f", held: {', '.join(held)}" if held else "")
    + (", MAINTENANCE" if health.get("maintenance") else "")
)
print(summary)
sys.exit(exit_code)
PY
