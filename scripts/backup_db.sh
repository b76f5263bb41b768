#!/usr/bin/env bash
# Nightly backup (deploy/mini-crm-backup.timer): a consistent, verified copy of the database
# while mini-crm runs, the newest N kept. Runs from the installation (or repository) directory,
# so DATABASE_URL comes from the environment or its .env, as for the service.
#   scripts/backup_db.sh [DIR] [KEEP]     defaults: storage/backups 14
# Restore one (with mini-crm stopped): mini-crm restore storage/backups/mini-crm-…sqlite
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/mini-crm-bin.sh
exec "$bin" backup --out "${1:-storage/backups}" --keep "${2:-14}"
