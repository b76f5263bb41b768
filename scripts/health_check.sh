#!/usr/bin/env bash
# One-line health summary of a mini-crm instance, from its /healthz:
#   METRICS_TOKEN=… scripts/health_check.sh https://crm.example.com/healthz
# Exit status: 0 healthy, 1 degraded (an open breaker, a queue backlog, a silent worker or a disk
# nearly full: the app serves, something needs attention), 2 down or unreachable. The work is
# `mini-crm health URL` (no Python needed), run from the release this script belongs to.
# /healthz gives its details (queues, breakers, version) only with METRICS_TOKEN (environment or
# .env); without it the line has the status alone.
set -uo pipefail
url=${1:?usage: scripts/health_check.sh URL (e.g. http://127.0.0.1:3000/healthz)}
. "$(dirname "$0")/lib/mini-crm-bin.sh"
exec "$bin" health "$url"
