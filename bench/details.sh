#!/usr/bin/env bash
# GET /api/v1/content/{id} over 1,000 ids, the details cache against no cache,
# in the same run.
#
# Builds Release (build-release: broker, catalog, ratelimit, gateway), starts
# a throw-away PostgreSQL and Redis, seeds 1,000 titles straight into the
# catalog tables (20 cast, 5 crew, 3 videos, 6 genres' worth of keywords and
# offers in 10 regions each: a details answer of a few KB), and runs two
# gateways on the same broker, catalog and limiter, rate limiting ON
# (anonymous limits raised so that nothing is refused):
#   cached    MG_DETAILS_CACHE_TTL_S=300: a hit is one Redis script on the
#             gateway's loop, no bus round trip to the catalog
#   uncached  MG_DETAILS_CACHE_TTL_S=0: the catalog builds every answer from
#             PostgreSQL
# plus GET /api/v1/genres on the cached gateway (answered from the catalog
# actor's memory: what serving details from the catalog's memory would cost
# at best), and nginx serving one details answer as a static file. The cache
# is filled by one pass over the ids first.
#   MG_BENCH_SECONDS     seconds per measured run (default 10)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-10}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=${MG_BENCH_THREADS:-2}
for tool in wrk nginx curl psql; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
export BENCH_TARGETS="mg-broker mg-gateway mg-catalog mg-ratelimit mg-admin"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

export MG_RATE_ANONYMOUS=1000000/s,1000000/m
bench_redis
bench_start broker catalog ratelimit
cached_port=$(mg_free_port)
plain_port=$(mg_free_port)
nginx_port=$(mg_free_port)
MG_HTTP_PORT=$cached_port MG_DETAILS_CACHE_TTL_S=300 "$bin/mg-gateway" 2>"$tmp/log/gateway-cached.log" &
pids+=($!)
MG_HTTP_PORT=$plain_port MG_DETAILS_CACHE_TTL_S=0 "$bin/mg-gateway" 2>"$tmp/log/gateway-plain.log" &
pids+=($!)
# The catalog migrates the database at start; genres answer once it is up.
for port in "$cached_port" "$plain_port"; do
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/genres")" = 200 ] && break
    sleep 0.1
  done
done

bench_seed_titles
psql -qAt "$MG_PG_URL" -c "SELECT '/api/v1/content/' || id FROM content" >"$tmp/details.txt"

# Fill the cache: one pass over the ids on one kept-alive connection.
python3 - "$cached_port" "$tmp/details.txt" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for path in open(sys.argv[2]):
    conn.request("GET", path.strip())
    conn.getresponse().read()
PY
curl -sf "http://127.0.0.1:$cached_port$(head -1 "$tmp/details.txt")" >"$tmp/details.json"
bench_nginx "$nginx_port" "$tmp/details.json"

hits() {
  curl -s "http://127.0.0.1:$cached_port/metrics" | awk '/^mg_gateway_details_cache_total\{outcome="hit"\}/ { print $2 }'
}
measure() { bench_measure "$@"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
measure "nginx, one details answer" "http://127.0.0.1:$nginx_port/static.json"
hits_before=$(hits)
measure "details, cached" "http://127.0.0.1:$cached_port" "$tmp/details.txt"
hits_after=$(hits)
measure "details, uncached" "http://127.0.0.1:$plain_port" "$tmp/details.txt"
measure "genres (catalog memory)" "http://127.0.0.1:$cached_port/api/v1/genres"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency, keep-alive, rate limiting on; details answer $(wc -c <"$tmp/details.json") bytes"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average before $load_before, after $load_after"
bench_print_rows
echo "cached run: $((hits_after - hits_before)) cache hits"
