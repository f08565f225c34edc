#!/usr/bin/env bash
# Remakes docs/token-table.png, the README's screenshot: the demo's token table in headless
# Chromium (Debian's `chromium`). Run from anywhere; builds the exporter first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
port=19871
target/debug/okta-token-exporter demo --web.listen-address="127.0.0.1:$port" >/dev/null 2>&1 &
demo=$!
trap 'kill $demo' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break
  sleep 0.1
done
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1500,900 \
  --screenshot=docs/token-table.png "http://127.0.0.1:$port/" 2>/dev/null
