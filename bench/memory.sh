#!/usr/bin/env bash
# Resident memory of the exporter holding 10,000 tokens, against the same exporter holding 100
# tokens, measured in one run on this machine; then the RSS after a burst of scrapes.
# Usage: bash bench/memory.sh [TOKENS]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-10000}
cargo build --release --quiet --bin okta-token-exporter --example simulated_org
bin=target/release/okta-token-exporter
sim=target/release/examples/simulated_org
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# measure N SIM_PORT EXPORTER_PORT: prints "rss_kib_after_first_poll rss_kib_after_100_scrapes"
measure() {
  local n=$1 sim_port=$2 port=$3
  "$sim" "$n" "127.0.0.1:$sim_port" "$work/token-$n" 2>/dev/null & pids+=($!)
  for _ in $(seq 100); do [ -s "$work/token-$n" ] && break; sleep 0.1; done
  chmod 600 "$work/token-$n"
  sleep 0.5
  "$bin" --okta.org-url="http://127.0.0.1:$sim_port" --okta.token-file="$work/token-$n" \
    --okta.org-name=bench --web.listen-address="127.0.0.1:$port" --okta.poll-interval=1h \
    --log.level=warn & local pid=$!; pids+=($pid)
  for _ in $(seq 600); do
    count=$(curl -fs "http://127.0.0.1:$port/metrics" | grep -c '^okta_api_token_info{' || true)
    [ "$count" = "$n" ] && break
    sleep 0.1
  done
  [ "$count" = "$n" ] || { echo "the exporter never showed $n tokens" >&2; exit 1; }
  local first; first=$(rss_kib "$pid")
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/metrics"; done
  echo "$first $(rss_kib "$pid")"
}

# Not in a subshell, so that the exit trap knows every pid to stop.
measure 100 18181 19191 > "$work/small"
measure "$tokens" 18182 19192 > "$work/big"
read -r small_first small_after < "$work/small"
read -r big_first big_after < "$work/big"
awk -v n="$tokens" -v sf="$small_first" -v sa="$small_after" -v bf="$big_first" -v ba="$big_after" 'BEGIN {
  printf "tokens  rss_after_poll_MiB  rss_after_100_scrapes_MiB\n"
  printf "%6d  %18.1f  %25.1f\n", 100, sf/1024, sa/1024
  printf "%6d  %18.1f  %25.1f\n", n, bf/1024, ba/1024
  printf "ratio %d/100 tokens after 100 scrapes: %.2f\n", n, ba/sa
}'
