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
#   GET /api/v1/content/{id}               spread over 1,000 ids, each asked once before
#   GET /api/v1/search?q=… cached          1,000 distinct queries, each asked once before
#   GET /api/v1/search?q=… uncached        queries not asked before (the cache-hit share
#                                          of the run is printed: it should stay near 0)
#   GET /api/v1/discover?… cached          120 filter sets, each asked once before
#   GET /api/v1/discover?… uncached        later pages of them, not asked before
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

MG_RATE_ANONYMOUS=1000000/s,1000000/m MG_FETCHER_SCHEDULE=0 "$root/scripts/run" >"$tmp/run.log" 2>&1 || {
  cat "$tmp/run.log" >&2
  exit 1
}

# scripts/run restarts the search replicas once the embedder's model is
# trained and returns when one answers again; each loads its index for about
# 30 s. Measure only when every replica of the Procfile is registered with
# the broker (GET /ready counts them) and a semantic search answers (a
# replica has the model): otherwise the search rows measure one replica, or
# 503s, and the cache is filled under a generation that moves meanwhile.
replicas=$(awk -F: '$2 ~ /mg-search/' "$root/Procfile" | wc -l)
for i in $(seq 1 180); do
  live=$(curl -s "$base/ready" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("services", {}).get("search", 0))' 2>/dev/null || echo 0)
  if [ "$live" -ge "$replicas" ] &&
     curl -sf -o /dev/null "$base/api/v1/search?q=bench+warm+$i&mode=semantic&per_page=1"; then
    break
  fi
  if [ "$i" = 180 ]; then
    echo "bench: the search replicas are not all serving after 180 s ($live of $replicas live)" >&2
    exit 1
  fi
  sleep 1
done

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
sets = [f"/api/v1/discover?genres={g}&region={r}&sort={sort}"
        for g in genres for r in regions for sort in ("popularity", "rating", "release_date")]
with open(f"{tmp}/discover.txt", "w") as f:
    f.writelines(s + "\n" for s in sets)
# Pages 2-9 of the same sets, never asked before: every one a cache miss.
later = [f"{s}&page={page}" for s in sets for page in range(2, 10)]
random.shuffle(later)
with open(f"{tmp}/discover_uncached.txt", "w") as f:
    f.writelines(s + "\n" for s in later)
PY

# fill FILE: ask every path of FILE once (kept alive), so that the gateway's
# caches hold their answers. Done right before the run that reads them: a
# search entry lives MG_SEARCH_CACHE_TTL_S (60 s), less than the runs before
# it take.
fill() {
  python3 - "$base" "$1" <<'PY'
import http.client, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
for path in open(sys.argv[2]):
    conn.request("GET", path.strip())
    conn.getresponse().read()
PY
}

# cache_count CACHE OUTCOME: the gateway's counter of that cache's outcome.
cache_count() {
  curl -s "$base/metrics" | awk -v name="mg_gateway_$1_cache_total{outcome=\"$2\"}" \
    '$1 == name { n = $2 } END { print n + 0 }'
}

# nginx serves the very bytes of the genres reply: the same payload as the gateway.
curl -sf "$base/api/v1/genres" >"$tmp/genres.json"
nginx_port=$(mg_free_port)
bench_nginx "$nginx_port" "$tmp/genres.json"

measure() { bench_measure "$@"; }
measure "nginx static file" "http://127.0.0.1:$nginx_port/static.json"
measure "GET /health" "$base/health"
measure "GET /api/v1/genres" "$base/api/v1/genres"
# The details cache keeps an answer 300 s: asked once before, the run
# measures the read path; cold, its 1,000 first asks (each a catalog query,
# two worker threads) were the p99 of a 10 s run.
fill "$tmp/details.txt"
details_before=$(cache_count details hit) details_missed=$(cache_count details miss)
measure "content/{id}, 1,000 ids" "$base" "$tmp/details.txt"
details_hits=$(($(cache_count details hit) - details_before))
details_missed=$(($(cache_count details miss) - details_missed))
fill "$tmp/cached.txt"
hits_before=$(cache_count search hit) misses_before=$(cache_count search miss)
measure "search, cached" "$base" "$tmp/cached.txt"
hits_cached=$(cache_count search hit) misses_cached=$(cache_count search miss)
measure "search, uncached" "$base" "$tmp/uncached.txt"
hits_after=$(cache_count search hit)
fill "$tmp/discover.txt"
measure "discover, 120 sets, cached" "$base" "$tmp/discover.txt"
discover_hits=$(cache_count discover hit)
measure "discover, uncached" "$base" "$tmp/discover_uncached.txt"
discover_later=$(($(cache_count discover hit) - discover_hits))

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency, keep-alive; stack as scripts/run starts it (rate limiting on)"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_print_rows
echo "details run: $details_hits cache hits, $details_missed misses"
echo "cached search run: $((hits_cached - hits_before)) cache hits, $((misses_cached - misses_before)) misses"
echo "uncached search run: $((hits_after - hits_cached)) of its answers came from the cache"
echo "uncached discover run: $discover_later of its answers came from the cache"

# One kept-alive connection, consecutive large replies.
read -r size first p50 worst over <<<"$(python3 "$root/bench/keepalive.py" 127.0.0.1 "$http_port" \
  "/api/v1/search?q=star&per_page=20" 20)"
echo "one keep-alive connection, 20 searches of $size bytes: first $first ms, p50 $p50 ms, worst $worst ms, $over over 20 ms"
