#!/usr/bin/env bash
# Rotates mini-crm's log: the current file is moved aside with the date, compressed, and only
# the newest KEEP rotated files are kept. mini-crm notices the move within a second and opens a
# fresh storage/logs/mini-crm.log; lines written meanwhile land in the rotated file, so none is
# lost. Run it daily (cron) or by hand:
#   scripts/rotate_logs.sh [KEEP]        (default 14; LOG_DIR as for mini-crm, default storage/logs)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LOG_DIR:-storage/logs}
keep=${1:-14}
log="$dir/mini-crm.log"
if [ ! -s "$log" ]; then
  echo "rotate_logs: nothing to rotate in $log"
  exit 0
fi
rotated="$dir/mini-crm-$(date -u +%Y%m%d-%H%M%S).log"
[ ! -e "$rotated" ] || rotated="$dir/mini-crm-$(date -u +%Y%m%d-%H%M%S)-$$.log"
mv "$log" "$rotated"
# Give running processes time to reopen (they check every second) before compressing.
sleep 2
gzip -9 "$rotated"
ls -1t "$dir"/mini-crm-*.log.gz 2>/dev/null | tail -n +"$((keep + 1))" | xargs -r rm --
echo "rotate_logs: $rotated.gz (keeping the newest $keep)"
