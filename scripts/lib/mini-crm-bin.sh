# Sourced by the operations scripts: sets `bin` to the mini-crm binary they should run, in this
# order: MINI_CRM_BIN; the release the calling script belongs to (ROOT/current/scripts/.. as
# installed by scripts/deploy.sh); a release build in the repository; `mini-crm` on the PATH
# (/usr/local/bin/mini-crm, which deploy.sh links to ROOT/current/mini-crm).
# shellcheck shell=bash
_scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${MINI_CRM_BIN:-}
for _candidate in "$_scripts/../mini-crm" "$_scripts/../target/release/mini-crm"; do
  if [ -z "$bin" ] && [ -x "$_candidate" ]; then bin=$_candidate; fi
done
bin=${bin:-mini-crm}
unset _scripts _candidate
