#!/usr/bin/env bash
# Rotates mini-crm's log: the current file is moved aside with the date, compressed, and only
# the newest KEEP rotated files are kept. mini-crm notices the move within a second and opens a
# fresh storage/logs/mini-crm.log; lines written meanwhile land in the rotated file, so none is
# lost. Run it daily (cron) or by hand:
#   scripts/rotate_logs.sh [KEEP]        (default 14; LOG_DIR as for mini-crm, default storage/logs)
set -euo pipefail
cd "$(dirname "$0")/.."
# LOG_DIR as mini-crm sees it: the environment, else the installation's .env, else the default.
dir=${LOG_DIR:-$(sed -n 's/^LOG_DIR=//p' .env 2>/dev/null | tail -n 1)}
dir=${dir:-storage/logs}
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
# Newest first by modification time; NUL-separated so a path with spaces stays one path.
find "$dir" -maxdepth 1 -name 'mini-crm-*.log.gz' -printf '%T@ %p\0' | sort -z -n -r |
  tail -z -n +"$((keep + 1))" | cut -z -d ' ' -f 2- | xargs -0 -r rm --
echo "rotate_logs: $rotated.gz (keeping the newest $keep)"
