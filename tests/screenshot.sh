#!/usr/bin/env bash
# Takes the README's screenshot of the landing page: builds the release binary, runs `demo` on a
# free loopback port, waits (at most 30 s) until its first poll is in (/-/ready answers 200), and
# has headless Chromium (Debian's `chromium`) save the page at 1900x1100 as a PNG.
# Usage: bash tests/screenshot.sh [OUTPUT.png]   (default: tests/screenshots/landing-page.png)
# Needs chromium, curl and python3 (to find a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tests/screenshots/landing-page.png}
for tool in chromium curl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet --bin okta-token-exporter
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port/"
profile=$(mktemp -d)
target/release/okta-token-exporter demo --web.listen-address="127.0.0.1:$port" --log.level=warn &
demo=$!
trap 'kill "$demo" 2>/dev/null || true; rm -rf "$profile"' EXIT
deadline=$((SECONDS + 30))
until curl -fs -o /dev/null "${url}-/ready"; do
  kill -0 "$demo" 2>/dev/null || { echo "the demo exited before it got ready" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "the demo did not get ready within 30 s" >&2; exit 1; }
  sleep 0.1
done
mkdir -p "$(dirname "$out")"
# The background-networking flags keep Chromium from reaching out to Google (slow, and pointless).
timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1900,1100 \
  --screenshot="$out" "$url" 2>/dev/null
[ -s "$out" ] || { echo "chromium wrote no screenshot" >&2; exit 1; }
echo "wrote $out"
