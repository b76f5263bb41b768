#!/usr/bin/env bash
# Deploys a release of mini-crm into ROOT (default /var/www/mini-crm):
#   1. builds the release (scripts/build-site.sh), unless --bin/--site give prebuilt ones;
#   2. installs binary, site assets and scripts into ROOT/releases/<stamp>, with storage/ and
#      .env linked from ROOT/shared/ (database, logs and backups outlive releases);
#   3. backs the database up (storage/backups/pre-deploy), then runs the migrations;
#   4. links LINK_DIR/mini-crm (default /usr/local/bin) to ROOT/current/mini-crm, so the binary of
#      the live release is on everyone's PATH (sudo's secure_path included), points ROOT/current
#      at the new release and restarts the service (deploy/mini-crm.service);
#   5. checks /healthz (degraded is fine: a provider outage is no reason to roll back) and, if the
#      app is down, points current back at the previous release and restarts it.
# Keeps the newest 5 releases.
#
#   scripts/build-site.sh && sudo scripts/deploy.sh /var/www/mini-crm --bin target/release/mini-crm --site target/site
#   scripts/deploy.sh ROOT           (not root: builds, and installs into a ROOT you own, as you)
#   scripts/deploy.sh ROOT [--bin FILE --site DIR] [--restart-cmd CMD] [--health-url URL]
#                          [--health-timeout S] [--link-dir DIR] [--service-user USER]
# Run as root (sudo), the database, its backups and .env belong to the service's user
# (default mini-crm, as in deploy/mini-crm.service) and the migrations run as that user.
# The Laravel form `scripts/deploy.sh /var/www/mini-crm php` still works: the `php` is ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
# The release must be readable by the service's user whatever root's umask is; the files with
# patients' data (shared/) get their own modes.
umask 022

root=${1:-/var/www/mini-crm}
shift || true
bin="" site="" restart_cmd="sudo systemctl restart mini-crm" health_url="" health_timeout=30
link_dir=/usr/local/bin service_user=mini-crm
while [ $# -gt 0 ]; do
  case "$1" in
    php)
      echo "deploy: note: the trailing 'php' of the Laravel deploy is not needed any more (mini-crm is one binary); ignored" >&2
      shift ;;
    --link-dir) link_dir=$2; shift 2 ;;
    --service-user) service_user=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --site) site=$2; shift 2 ;;
    --restart-cmd) restart_cmd=$2; shift 2 ;;
    --health-url) health_url=$2; shift 2 ;;
    --health-timeout) health_timeout=$2; shift 2 ;;
    *) echo "deploy: unknown option $1" >&2; exit 64 ;;
  esac
done

if [ -z "$bin" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "deploy: build as yourself first (scripts/build-site.sh), then: sudo scripts/deploy.sh $root --bin target/release/mini-crm --site target/site" >&2
    exit 64
  fi
  scripts/build-site.sh
  bin=target/release/mini-crm
  site=target/site
fi
[ -x "$bin" ] || { echo "deploy: no binary at $bin" >&2; exit 1; }
[ -d "$site" ] || { echo "deploy: no site at $site" >&2; exit 1; }

# As root, what the service reads and writes must be its user's, and so must every file the
# binary makes now: mini-crm refuses to run as root on its user's database.
as_service=()
if [ "$(id -u)" -eq 0 ]; then
  id -u "$service_user" >/dev/null 2>&1 || {
    echo "deploy: there is no user $service_user to run mini-crm (sudo useradd --system --home-dir $root --shell /usr/sbin/nologin $service_user), or name another with --service-user" >&2
    exit 1
  }
  [ "$service_user" = "$(id -un)" ] || as_service=(runuser -u "$service_user" --)
fi
mkdir -p "$root/releases" "$root/shared/storage"
if [ ! -f "$root/shared/.env" ]; then
  # A new installation is a production one until someone says otherwise (the safeguards of
  # `migrate --fresh` depend on it); the rest of the settings are the administrator's (.env.example).
  (umask 077 && printf 'APP_ENV=production\n' > "$root/shared/.env")
  echo "deploy: created $root/shared/.env with APP_ENV=production: add APP_URL, METRICS_TOKEN and the providers' settings (see .env.example)"
fi
if [ "$(id -u)" -eq 0 ]; then
  # Recursive: files an older deploy (run as root) or a root shell left behind would stop the
  # service's user at the backup below.
  chown -R "$service_user:" "$root/shared"
fi
if [ -z "$health_url" ]; then
  addr=$(sed -n 's/^LEPTOS_SITE_ADDR=//p' "$root/shared/.env" | tail -n 1)
  health_url="http://${addr:-127.0.0.1:3000}/healthz"
fi

stamp=$(date -u +%Y%m%d%H%M%S)
release="$root/releases/$stamp"
[ ! -e "$release" ] || release="$release-$$"
echo "deploy: installing $release"
mkdir -p "$release"
cp "$bin" "$release/mini-crm"
cp -R "$site" "$release/site"
# The operations scripts only (the development ones need the repository).
mkdir -p "$release/scripts"
cp -R "$repo/scripts/backup_db.sh" "$repo/scripts/health_check.sh" "$repo/scripts/rotate_logs.sh" \
  "$repo/scripts/lib" "$release/scripts/"
cp -R "$repo/deploy" "$release/deploy"
ln -s ../../shared/storage "$release/storage"
ln -s ../../shared/.env "$release/.env"

previous=""
[ -L "$root/current" ] && previous=$(readlink "$root/current")

# Migrations run from the release directory: relative paths of .env resolve as the service's.
(
  cd "$release"
  if [ -n "$previous" ]; then
    "${as_service[@]}" ./mini-crm backup --out storage/backups/pre-deploy --keep 5
  fi
  "${as_service[@]}" ./mini-crm migrate
)

switch_to() {
  ln -sfn "$1" "$root/current.next"
  mv -T "$root/current.next" "$root/current"
  echo "deploy: current -> $1; restarting"
  bash -c "$restart_cmd"
}

# The link follows `current`, so it is made once and survives switches and rollbacks. It is
# never taken from another installation on the same machine (a staging one, say): its on-call
# commands would then run this release's migrations on that one's database.
link_binary() {
  local link="$link_dir/mini-crm" target
  target="$(cd "$root" && pwd)/current/mini-crm"
  if [ -L "$link" ] && [ "$(readlink "$link")" != "$target" ]; then
    echo "deploy: warning: $link points to $(readlink "$link"), another installation; left as it is (mini-crm of this one: $target)" >&2
  elif mkdir -p "$link_dir" 2>/dev/null && ln -sfn "$target" "$link" 2>/dev/null; then
    echo "deploy: $link -> $target"
  else
    echo "deploy: warning: cannot link $link -> $target (run: sudo ln -sfn $target $link)" >&2
  fi
}

healthy() {
  local deadline=$((SECONDS + health_timeout)) code
  while :; do
    code=0
    "$release/scripts/health_check.sh" "$health_url" || code=$?
    # 0 healthy, 1 degraded (serving; a provider or a queue needs attention): both are up.
    [ "$code" -le 1 ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 1
  done
}

link_binary
switch_to "releases/$(basename "$release")"
if healthy; then
  echo "deploy: $release is live"
  # The five newest releases stay (names are UTC stamps: they sort by age); NUL-separated so a
  # root with spaces stays one path.
  find "$root/releases" -mindepth 1 -maxdepth 1 -print0 | sort -z | head -z -n -5 |
    xargs -0 -r rm -rf --
  exit 0
fi

echo "deploy: $release is not healthy" >&2
if [ -n "$previous" ]; then
  switch_to "$previous"
  echo "deploy: rolled back to $previous (its database keeps the new, additive migrations; the pre-deploy backup is in storage/backups/pre-deploy)" >&2
else
  echo "deploy: no previous release to roll back to" >&2
fi
exit 1
