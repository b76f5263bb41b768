#!/usr/bin/env bash
# The service boundary (docs/architecture.md, "Layout"): pages, server functions, the JSON API,
# the HTTP edge and the CLI call backend services; only `app/src/backend` touches the database
# (its `store/` modules and SQL). A line that reaches past the boundary fails the test command.
set -euo pipefail
cd "$(dirname "$0")/.."

edges=(app/src/api app/src/pages server/src/http server/src/cli)
existing=()
for edge in "${edges[@]}"; do
  [ -e "$edge" ] && existing+=("$edge")
done
# `backend::store`, a `store::` import inside braces or a list, any sqlx use (the session
# store's own crate, tower_sessions_sqlx_store, is HTTP wiring and allowed).
found=$(grep -rnE 'backend::store|[{ ,(]store::|sqlx::|query_(as|scalar)\(' "${existing[@]}" \
  | grep -v 'tower_sessions_sqlx_store' || true)
if [ -n "$found" ]; then
  echo "check-layers: these lines reach the database past the backend's services:" >&2
  echo "$found" >&2
  echo "Call (or add) a function in app/src/backend/<concern>.rs instead." >&2
  exit 1
fi
echo "check-layers: pages, API, HTTP and CLI call backend services only"
python3 scripts/check-module-cycles.py
