#!/usr/bin/env bash
# The service boundary (docs/architecture.md, "The map"): everything outside `app/src/backend`
# — pages, components, server functions, the HTTP edge, the CLI — calls backend services; only
# the backend touches the database (its pools, transactions, `store/` modules and SQL). A line
# that reaches past the boundary fails the test command. Comments are not read.
set -euo pipefail
cd "$(dirname "$0")/.."

# Lines that may name sqlx for a reason of their own: the session store's crate is HTTP wiring,
# Timestamp (a domain type both builds share) encodes itself for SQLite, and the domain's
# states derive how they are decoded (an unknown name is an error, not a default).
allowed='^(server/src/http/mod\.rs|server/src/http/session_store\.rs|app/src/domain/timestamp\.rs):|^app/src/domain/[a-z_]+\.rs:[0-9]+:#\[cfg_attr\(feature = "ssr", derive\(sqlx::Type\), sqlx\(rename_all = "[a-z_]+"\)\)\]$'

for root in app/src server/src app/src/backend; do
  [ -d "$root" ] || { echo "check-layers: $root is missing: update this script" >&2; exit 1; }
done
pattern='::store::|backend::store|\bbackend as\b|backend::\{[^}]*\bstore\b|[{ ,(&]store::|\bstore as\b|sqlx::|query_(as|scalar)\(|\.(reader|writer|sessions)\b|begin_write|\.acquire\('
found=$(find app/src server/src -name '*.rs' -not -path 'app/src/backend/*' -print0 \
  | xargs -0 grep -nE "$pattern" \
  | grep -vE '^[^:]+:[0-9]+:\s*//' \
  | grep -vE "$allowed" || true)
if [ -n "$found" ]; then
  echo "check-layers: these lines reach the database past the backend's services:" >&2
  echo "$found" >&2
  echo "Call (or add) a function in app/src/backend/<concern>.rs instead." >&2
  exit 1
fi
echo "check-layers: outside app/src/backend, code calls backend services only"
python3 scripts/check-module-cycles.py
