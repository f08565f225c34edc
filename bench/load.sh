#!/usr/bin/env bash
# Load and soak test of /metrics with wrk, for an org of 10,000 tokens.
#
# Reports throughput and latency percentiles under load; then, in the same run, scrapes per second
# and bytes per scrape for identity, gzip and zstd against nginx serving the same body (as a
# static file, and gzipped on the fly at level 1) as the baseline; then the exporter's resident
# memory before, during (every 30 s) and after a soak, so that "memory stays flat" is a ratio.
# Usage: bash bench/load.sh [TOKENS] [LOAD_SECONDS] [SOAK_SECONDS]   (default 10000 30 300;
# SOAK_SECONDS=0 skips the soak). POLL_INTERVAL (default 1m) sets how often the exporter polls the
# simulated org. Needs wrk, curl and nginx (Debian packages `wrk`, `curl`, `nginx-light`).
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-10000}
load_seconds=${2:-30}
soak_seconds=${3:-300}
for tool in wrk curl nginx; do
  command -v "$tool" >/dev/null || { echo "bench/load.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet --bin okta-token-exporter --example simulated_org
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

sim_port=18281 port=19291
target/release/examples/simulated_org "$tokens" "127.0.0.1:$sim_port" "$work/token" 2>/dev/null & pids+=($!)
for _ in $(seq 100); do [ -s "$work/token" ] && break; sleep 0.1; done
chmod 600 "$work/token"
target/release/okta-token-exporter --okta.org-url="http://127.0.0.1:$sim_port" --okta.token-file="$work/token" \
  --okta.org-name=bench --web.listen-address="127.0.0.1:$port" --okta.poll-interval="${POLL_INTERVAL:-1m}" --log.level=warn &
exporter=$!; pids+=($exporter)
for _ in $(seq 600); do
  count=$(curl -fs "http://127.0.0.1:$port/metrics" | grep -c '^okta_api_token_info{' || true)
  [ "$count" = "$tokens" ] && break
  sleep 0.1
done
[ "$count" = "$tokens" ] || { echo "the exporter never showed $tokens tokens" >&2; exit 1; }
bytes=$(curl -fs "http://127.0.0.1:$port/metrics" | wc -c)
rss() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$exporter/status"; }

echo "== $tokens tokens, $bytes bytes per scrape"
echo "== resident memory before load: $(rss) MiB"
rss_before=$(rss)
echo "== load: wrk, 2 threads, 4 connections, ${load_seconds}s"
wrk -t2 -c4 -d"${load_seconds}s" --latency "http://127.0.0.1:$port/metrics" | grep -E "Latency|Req/Sec|50%|75%|90%|99%|requests in|Requests/sec|Transfer/sec"
echo "== resident memory after load: $(rss) MiB"

echo "== content coding against nginx, wrk -t2 -c4 for ${load_seconds}s each"
# The baseline: nginx serving this very body, from a file and gzipped on the fly at level 1.
nginx_port=19292
mkdir -p "$work/www" "$work/nginx"
chmod 755 "$work" "$work/www"   # nginx's workers run as another user when started by root
curl -fs "http://127.0.0.1:$port/metrics" > "$work/www/metrics"
chmod 644 "$work/www/metrics"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 2;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  default_type text/plain;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
    gzip on; gzip_comp_level 1; gzip_types text/plain; gzip_min_length 0;
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
pids+=($(cat "$work/nginx/nginx.pid" 2>/dev/null || true))
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$nginx_port/metrics" && break; sleep 0.1; done
rate() { # URL [Accept-Encoding]: scrapes per second
  local header=()
  [ -n "${2:-}" ] && header=(-H "Accept-Encoding: $2")
  wrk -t2 -c4 -d"${load_seconds}s" "${header[@]}" "$1" | awk '/^Requests\/sec/ {print $2}'
}
size() { curl -fs -H "Accept-Encoding: $2" "$1" | wc -c; }
identity_bytes=$(size "http://127.0.0.1:$port/metrics" identity)
gzip_bytes=$(size "http://127.0.0.1:$port/metrics" gzip)
zstd_bytes=$(size "http://127.0.0.1:$port/metrics" zstd)
nginx_gzip_bytes=$(size "http://127.0.0.1:$nginx_port/metrics" gzip)
exporter_identity=$(rate "http://127.0.0.1:$port/metrics")
nginx_static=$(rate "http://127.0.0.1:$nginx_port/metrics")
exporter_gzip=$(rate "http://127.0.0.1:$port/metrics" gzip)
nginx_gzip=$(rate "http://127.0.0.1:$nginx_port/metrics" gzip)
exporter_zstd=$(rate "http://127.0.0.1:$port/metrics" zstd)
awk -v ib="$identity_bytes" -v gb="$gzip_bytes" -v zb="$zstd_bytes" -v ngb="$nginx_gzip_bytes" \
    -v ei="$exporter_identity" -v ns="$nginx_static" -v eg="$exporter_gzip" -v ng="$nginx_gzip" -v ez="$exporter_zstd" 'BEGIN {
  printf "   bytes per scrape: identity %d, gzip %d (%.3f of identity; nginx gzip %d), zstd %d (%.3f)\n", ib, gb, gb / ib, ngb, zb, zb / ib
  printf "   scrapes/s: identity %.1f vs nginx static file %.1f: %.2fx\n", ei, ns, ei / ns
  printf "   scrapes/s: gzip %.1f vs nginx gzip level 1 %.1f: %.2fx\n", eg, ng, eg / ng
  printf "   scrapes/s: zstd %.1f (%.2fx identity)\n", ez, ez / ei
}'
kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
[ "$soak_seconds" -gt 0 ] || exit 0

echo "== soak: wrk, 1 thread, 2 connections, ${soak_seconds}s; memory every 30 s"
wrk -t1 -c2 -d"${soak_seconds}s" "http://127.0.0.1:$port/metrics" > "$work/soak.txt" &
wrk_pid=$!
samples=()
elapsed=0
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 30; elapsed=$((elapsed + 30))
  kill -0 "$wrk_pid" 2>/dev/null || break
  samples+=("$(rss)"); echo "   t=${elapsed}s rss=$(rss) MiB"
done
wait "$wrk_pid" || true
grep -E "requests in|Requests/sec" "$work/soak.txt"
rss_after=$(rss)
first=${samples[0]:-$rss_after}
# The allocator settles during the first polls; the second sample (t=60s) is after that warm-up.
warm=${samples[1]:-$first}
awk -v b="$rss_before" -v f="$first" -v w="$warm" -v a="$rss_after" 'BEGIN {
  printf "== resident memory: before %.1f MiB, first soak sample %.1f MiB, at 60 s %.1f MiB, after soak %.1f MiB\n", b, f, w, a
  printf "== after-soak / first-sample ratio: %.2f; after-soak / 60-s ratio: %.2f (flat is 1.00)\n", a / f, a / w
}'
