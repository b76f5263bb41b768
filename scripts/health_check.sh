#!/usr/bin/env bash
# One-line health summary of a mini-crm instance, from its /healthz.
#   scripts/health_check.sh https://crm.example.com/healthz
# Exit status: 0 healthy, 1 degraded (an open breaker or a queue backlog: the app serves, a
# provider or the queue needs attention), 2 down or unreachable.
set -uo pipefail
url=${1:?usage: scripts/health_check.sh URL (e.g. http://127.0.0.1:3000/healthz)}
body=$(curl -sS --max-time 10 -w '\n%{http_code}' "$url" 2>&1)
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
    print(f"DOWN {url}: HTTP {code}, database {'ok' if health.get('database', {}).get('ok') else 'failing'}")
    sys.exit(2)
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
sys.exit(0 if status == "ok" else 1)
PY
