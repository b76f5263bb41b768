#!/usr/bin/env bash
# Nightly backup (cron): a consistent, verified copy of the database while mini-crm runs, the
# newest N kept. Reads DATABASE_URL from the environment or .env like the binary.
#   scripts/backup_db.sh [DIR] [KEEP]     defaults: storage/backups 14
# Restore one (with mini-crm stopped): mini-crm restore storage/backups/mini-crm-…sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MINI_CRM_BIN:-target/release/mini-crm}
exec "$bin" backup --out "${1:-storage/backups}" --keep "${2:-14}"
