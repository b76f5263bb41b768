#!/usr/bin/env bash
# Builds the site: the browser bundle (wasm, size-tuned profile) and assets into
# $LEPTOS_SITE_ROOT (default target/site), then the `mini-crm` binary.
#   scripts/build-site.sh            release binary (target/release/mini-crm)
#   scripts/build-site.sh --debug    debug binary (target/debug/mini-crm), same bundle
set -euo pipefail
cd "$(dirname "$0")/.."

server_profile=release
[ "${1:-}" = "--debug" ] && server_profile=dev
site=${LEPTOS_SITE_ROOT:-target/site}

cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
rm -rf "$site/pkg"
mkdir -p "$site/pkg"
wasm-bindgen --target web --no-typescript --remove-name-section \
  --out-dir "$site/pkg" --out-name mini-crm \
  target/wasm32-unknown-unknown/wasm-release/frontend.wasm
# Leptos asks for <output-name>.wasm when LEPTOS_OUTPUT_NAME is set at compile time. wasm-opt
# comes from the npm package binaryen (Debian's older one breaks hydration); -O1 because the
# size levels (-Os, -Oz) shrink the raw file but grow it gzipped.
node_modules/.bin/wasm-opt -O1 --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals \
  "$site/pkg/mini-crm_bg.wasm" -o "$site/pkg/mini-crm.wasm"
rm "$site/pkg/mini-crm_bg.wasm"
cp style/main.css "$site/pkg/mini-crm.css"
cp -R public/. "$site/"
# ECharts, pinned in package-lock.json, is served by us like every other asset (no CDN).
cp node_modules/echarts/dist/echarts.min.js "$site/echarts.min.js"

cargo build -p server --profile "$server_profile"
wasm_gzip=$(gzip -9 -c "$site/pkg/mini-crm.wasm" | wc -c)
echo "site: $site (wasm bundle: $(wc -c <"$site/pkg/mini-crm.wasm") bytes, $wasm_gzip gzipped)"
# SPEC §7: the release wasm stays within 400 KB gzipped (ECharts' own JS not counted).
if [ "$wasm_gzip" -gt 400000 ]; then
  echo "build-site: the wasm bundle is over 400 KB gzipped" >&2
  exit 1
fi
