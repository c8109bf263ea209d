#!/usr/bin/env bash
# The whole system as scripts/run starts it, measured the way users reach it.
#
# Starts the stack with scripts/run (every actor up, rate limiting ON, the
# provider simulator and the fetcher up but its scheduler off so that no
# ingestion competes; anonymous limits raised so that no request is refused:
# the limiter still counts every request, most through leases), and nginx serving a static copy
# of the genres reply in the same run as the reference. Then, with keep-alive
# wrk connections:
#   GET /health                            the HTTP path alone
#   GET /api/v1/genres                     the guard, then the gateway's memory (memo.c)
#   GET /api/v1/content/{id}               spread over 1,000 ids
#   GET /api/v1/search?q=… cached          1,000 distinct queries, each asked once before
#   GET /api/v1/search?q=… uncached        queries not asked before (the cache-hit share
#                                          of the run is printed: it should stay near 0)
#   GET /api/v1/discover?…                 a spread of filters
# and on one kept-alive connection, 20 consecutive searches with a large reply
# (every one should be as fast as the first). Prints one table: req/s, p50,
# p99, × nginx. Refuses to run while another stack answers on the port.
#   MG_BENCH_SECONDS     seconds per measured run (default 10)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
#   MG_BENCH_KEEP=1      leave the stack running afterwards
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-10}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=${MG_BENCH_THREADS:-2}
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/common.sh
. "$root/scripts/lib/common.sh"
# shellcheck source=scripts/lib/services.sh
. "$root/scripts/lib/services.sh"
http_port=$(mg_conf MG_HTTP_PORT 8080)
base=http://127.0.0.1:$http_port
if curl -s -o /dev/null "$base/health"; then
  echo "bench: something already answers on $base: stop it first (scripts/stop)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/mg-stack.XXXXXX)
bench_cleanup_hooks=()
cleanup() {
  local hook
  for hook in "${bench_cleanup_hooks[@]}"; do "$hook" || true; done
  [ "${MG_BENCH_KEEP:-0}" = 1 ] || "$root/scripts/stop" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=bench/measure.sh
. "$root/bench/measure.sh"

# scripts/run builds build/ (Release); without the tests it is the programs
# only, which a loaded machine builds in minutes (an existing build/ is reused).
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DMG_TESTS=OFF >/dev/null
MG_RATE_ANONYMOUS=1000000/s,1000000/m MG_FETCHER_SCHEDULE=0 "$root/scripts/run" >"$tmp/run.log" 2>&1 || {
  cat "$tmp/run.log" >&2
  exit 1
}

# Request paths: 1,000 ids and their titles from the catalog itself.
python3 - "$base" "$tmp" <<'PY'
import json, random, sys, urllib.parse, urllib.request
base, tmp = sys.argv[1], sys.argv[2]
items = []
for page in range(1, 51):
    with urllib.request.urlopen(f"{base}/api/v1/discover?per_page=100&page={page}") as r:
        got = json.load(r)["results"]
    items += got
    if len(got) < 100:
        break
random.seed(7)
random.shuffle(items)
first, rest = items[:1000], items[1000:]
q = lambda text: "/api/v1/search?q=" + urllib.parse.quote(text.lower())
with open(f"{tmp}/details.txt", "w") as f:
    f.writelines(f"/api/v1/content/{i['id']}\n" for i in first)
with open(f"{tmp}/cached.txt", "w") as f:
    f.writelines(q(i["title"]) + "\n" for i in first)
# Never asked before: the other titles, then every title with its year.
with open(f"{tmp}/uncached.txt", "w") as f:
    f.writelines(q(i["title"]) + "\n" for i in rest)
    f.writelines(q(f"{i['title']} {i.get('year', '')}") + "\n" for i in items)
genres = ["action", "comedy", "drama", "science-fiction", "thriller", "horror", "romance", "animation"]
regions = ["US", "GB", "DE", "FR", "JP"]
with open(f"{tmp}/discover.txt", "w") as f:
    for g in genres:
        for r in regions:
            for sort in ("popularity", "rating", "release_date"):
                f.write(f"/api/v1/discover?genres={g}&region={r}&sort={sort}\n")
PY

# Fill the result cache with the cached set (one pass, kept alive).
python3 - "$base" "$tmp/cached.txt" <<'PY'
import http.client, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
for path in open(sys.argv[2]):
    conn.request("GET", path.strip())
    conn.getresponse().read()
PY

cache_hits() {
  curl -s "$base/metrics" | awk '/^mg_gateway_search_cache_total\{outcome="hit"\}/ { print $2 }'
}

# nginx serves the very bytes of the genres reply: the same payload as the gateway.
curl -sf "$base/api/v1/genres" >"$tmp/genres.json"
nginx_port=$(mg_free_port)
bench_nginx "$nginx_port" "$tmp/genres.json"

measure() { bench_measure "$@"; }
measure "nginx static file" "http://127.0.0.1:$nginx_port/static.json"
measure "GET /health" "$base/health"
measure "GET /api/v1/genres" "$base/api/v1/genres"
measure "content/{id}, 1,000 ids" "$base" "$tmp/details.txt"
measure "search, cached" "$base" "$tmp/cached.txt"
hits_before=$(cache_hits)
measure "search, uncached" "$base" "$tmp/uncached.txt"
hits_after=$(cache_hits)
measure "discover, 120 filter sets" "$base" "$tmp/discover.txt"

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency, keep-alive; stack as scripts/run starts it (rate limiting on)"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_print_rows
echo "uncached search run: $((hits_after - hits_before)) of its answers came from the cache"

# One kept-alive connection, consecutive large replies.
read -r size first p50 worst over <<<"$(python3 "$root/bench/keepalive.py" 127.0.0.1 "$http_port" \
  "/api/v1/search?q=star&per_page=20" 20)"
echo "one keep-alive connection, 20 searches of $size bytes: first $first ms, p50 $p50 ms, worst $worst ms, $over over 20 ms"
