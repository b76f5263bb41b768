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
  fi
fi
exec target/release/mini-crm serve
