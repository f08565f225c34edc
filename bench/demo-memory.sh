#!/usr/bin/env bash
# Does a long-running `demo` hold flat memory? Runs the release `demo` for DURATION seconds while a
# loop scrapes /metrics, samples the exporter's resident memory (the demo's simulated org runs in
# the same process) every 60 s, and prints the samples and the ratio of the last sample to the
# first one after warm-up (t=120s: the allocator settles during the first polls).
# Usage: bash bench/demo-memory.sh [DURATION]   (default 3600; at least 180)
# SCRAPE_EVERY (default 1, seconds) paces the scrape loop; POLL_INTERVAL (default 10s) is how often
# the demo polls its org. Loopback only. Needs curl.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-${DURATION:-3600}}
[ "$duration" -ge 180 ] || { echo "DURATION must be at least 180 seconds" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/demo-memory.sh needs curl" >&2; exit 1; }
cargo build --release --quiet --bin okta-token-exporter
port=${PORT:-19391}
url="http://127.0.0.1:$port/metrics"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

target/release/okta-token-exporter demo --web.listen-address="127.0.0.1:$port" \
  --okta.poll-interval="${POLL_INTERVAL:-10s}" --log.level=warn >/dev/null &
exporter=$!; pids+=("$exporter")
# Reads the whole page before matching (grep -q stopping early would fail curl under pipefail).
has_tokens() { local body; body=$(curl -fs "$url") && grep -q '^okta_api_token_info{' <<<"$body"; }
for _ in $(seq 300); do
  has_tokens && break
  sleep 0.1
done
has_tokens || { echo "the demo never showed tokens" >&2; exit 1; }
rss() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$exporter/status"; }

# The scrape loop: one scrape at a time (bounded), each with a 10 s cap, loopback only.
(
  while kill -0 "$exporter" 2>/dev/null; do
    curl -fs --max-time 10 -H 'Accept-Encoding: gzip' -o /dev/null "$url" || true
    sleep "${SCRAPE_EVERY:-1}"
  done
) & pids+=($!)

echo "== demo for ${duration}s, scraping $url every ${SCRAPE_EVERY:-1}s, polling every ${POLL_INTERVAL:-10s}"
echo "   t=0s rss=$(rss) MiB"
samples=()
elapsed=0
while [ "$elapsed" -lt "$duration" ]; do
  sleep 60; elapsed=$((elapsed + 60))
  kill -0 "$exporter" 2>/dev/null || { echo "the demo exited early" >&2; exit 1; }
  sample=$(rss); samples+=("$sample")
  echo "   t=${elapsed}s rss=${sample} MiB"
done
has_tokens || { echo "the demo stopped showing tokens" >&2; exit 1; }
warm=${samples[1]}
last=${samples[-1]}
echo "== after warm-up (t=120s) ${warm} MiB, last ${last} MiB: last/warm = $(awk -v a="$last" -v b="$warm" 'BEGIN {printf "%.3f", a/b}')"
