#!/usr/bin/env bash
# Gateway throughput against nginx serving a static file on the same machine.
#
# Builds Release (build-release), starts a throw-away PostgreSQL and Redis
# (unless MG_PG_URL / MG_REDIS_URL are set), every actor the routes name
# (which /ready wants) and mg-gateway, and nginx (2 workers,
# no access log, keep-alive) serving a static copy of the genres reply. Then
# runs the same wrk load against each target:
#   nginx static file   - the ceiling for this box
#   GET /health         - HTTP path of the gateway only
#   GET /api/v1/genres  - through the broker to the catalog actor and back
# and prints requests/s, p99 latency and the ratio to nginx. wrk shares the
# cores with the servers, so every target gets the same wrk settings.
#   MG_BENCH_SECONDS     seconds per measured run (default 10)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-10}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=${MG_BENCH_THREADS:-2}
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

http_port=$(mg_free_port)
nginx_port=$(mg_free_port)
export MG_HTTP_PORT=$http_port
export MG_RESOLVER_INGEST=0
# The bus path alone: rate limiting is off here, its cost is measured by
# bench/ratelimit.sh (same load, with and without it, in one run).
export MG_RATE_ENABLED=0
export MG_RATE_ANONYMOUS=1000000/s,1000000/m
# Genres through the bus every time: the gateway's memory of reference
# answers is off here (bench/ratelimit.sh and bench/stack.sh measure it on).
export MG_REFERENCE_CACHE_S=0
# /ready wants a live worker for every service the routes name (and the limiter).
bench_redis
bench_start broker "${BENCH_ROUTED_ACTORS[@]}" gateway

gateway=http://127.0.0.1:$http_port
bench_wait_ready "$http_port"

# nginx serves the very bytes the gateway answers, so both move the same payload.
curl -sf "$gateway/api/v1/genres" >"$tmp/genres.json"
bench_nginx "$nginx_port" "$tmp/genres.json"

result=$(bench_wrk "http://127.0.0.1:$nginx_port/static.json")
read -r nginx_rps nginx_p99 <<<"$result"
result=$(bench_wrk "$gateway/health")
read -r health_rps health_p99 <<<"$result"
result=$(bench_wrk "$gateway/api/v1/genres")
read -r genres_rps genres_p99 <<<"$result"

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-28s %10s %10s %8s\n' target "req/s" "p99 ms" "x nginx"
for row in "nginx static file|$nginx_rps|$nginx_p99" "GET /health|$health_rps|$health_p99" \
           "GET /api/v1/genres|$genres_rps|$genres_p99"; do
  IFS='|' read -r name rps p99 <<<"$row"
  printf '%-28s %10s %10s %8s\n' "$name" "$rps" "$p99" \
    "$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')"
done
