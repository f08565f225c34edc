#!/usr/bin/env bash
# Takes the README's screenshot of the landing page: builds the release binary, runs `demo` on a
# loopback port, waits until its first poll is in, and has headless Chromium (Debian's
# `chromium`) save the page as tests/screenshots/landing-page.png.
# Usage: bash tests/screenshot.sh [OUTPUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tests/screenshots/landing-page.png}
command -v chromium >/dev/null || { echo "needs chromium: apt-get install chromium" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
cargo build --release --quiet --bin okta-token-exporter
port=${PORT:-29871}
profile=$(mktemp -d)
target/release/okta-token-exporter demo --web.listen-address="127.0.0.1:$port" --log.level=warn &
demo=$!
trap 'kill $demo 2>/dev/null || true; rm -rf "$profile"' EXIT
for _ in $(seq 200); do
  curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null || { echo "the demo never got ready" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1400,1000 \
  --screenshot="$out" "http://127.0.0.1:$port/" 2>/dev/null
echo "wrote $out"
