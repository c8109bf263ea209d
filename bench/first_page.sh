#!/usr/bin/env bash
# How long after start a new user's first page is complete in demo mode.
#
# Starts the stack as scripts/run does in demo mode (every Procfile process
# under scripts/supervise, the provider simulator at the providers' real
# quotas, the fetcher's scheduler on with its defaults, CURVE on the bus;
# scripts/load-catalog, then the fetcher), but in a folder and on ports of
# its own, so it runs beside another stack; semantic-search training is left
# out (it does not change what the fetcher fetches). From the moment the
# processes are started it polls, once a second:
#   GET /api/v1/trending?per_page=20                 trending, page 1
#   GET /api/v1/discover?sort=popularity&per_page=20 popular, page 1
# and every listed title's GET /api/v1/content/{id}, until each has a
# trailer (videos) and offers. Prints how many are complete
# as it changes and the time the page became complete, or that it did not
# within MG_BENCH_MAX_S (default 600) seconds.
#   MG_BENCH_MAX_S   give up after this many seconds
#   MG_BENCH_FETCHER_FIRST=1  start the fetcher with the other processes, before
#                    the catalog is loaded (to compare with scripts/run's order)
#   MG_BENCH_KEEP=1  leave the stack running (its folder is printed)
# Needs the Release build in build/ (scripts/run makes it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/common.sh
. "$root/scripts/lib/common.sh"
# shellcheck source=scripts/lib/services.sh
. "$root/scripts/lib/services.sh"
max_s=${MG_BENCH_MAX_S:-600}
[ -x "$root/build/bin/mg-gateway" ] || { echo "bench: build/bin is missing: run scripts/run or build Release into build/" >&2; exit 1; }

var=$(mktemp -d /tmp/mg-first-page.XXXXXX)
chmod 755 "$var"
export MG_HTTP_PORT MG_PG_PORT MG_REDIS_PORT MG_SIM_PORT
MG_HTTP_PORT=$(mg_free_port); MG_PG_PORT=$(mg_free_port)
MG_REDIS_PORT=$(mg_free_port); MG_SIM_PORT=$(mg_free_port)
broker=$(mg_free_port); pub=$(mg_free_port); sub=$(mg_free_port)
export MG_BROKER=tcp://127.0.0.1:$broker MG_BROKER_BIND=tcp://127.0.0.1:$broker
export MG_EVENTS_PUB=tcp://127.0.0.1:$pub MG_EVENTS_PUB_BIND=tcp://127.0.0.1:$pub
export MG_EVENTS=tcp://127.0.0.1:$sub MG_EVENTS_SUB_BIND=tcp://127.0.0.1:$sub
export MG_PG_URL=postgresql://postgres@127.0.0.1:$MG_PG_PORT/mediagateway
export MG_REDIS_URL=redis://127.0.0.1:$MG_REDIS_PORT
export MG_JWT_SECRET_FILE=$var/jwt_secret
# Demo mode exactly as scripts/run sets it.
sim="http://127.0.0.1:$MG_SIM_PORT"
export MG_TMDB_BASE_URL=$sim/tmdb/3 MG_SA_BASE_URL=$sim/sa
export MG_WATCHMODE_BASE_URL=$sim/watchmode/v1 MG_YOUTUBE_BASE_URL=$sim/youtube/v3
export TMDB_API_KEY=demo SA_API_KEY=demo WATCHMODE_API_KEY=demo YOUTUBE_API_KEYS=demo
base=http://127.0.0.1:$MG_HTTP_PORT
# The poller asks ~40 requests a second: anonymous limits raised so that none
# is refused (the limiter still decides every request), as bench/stack.sh does.
export MG_RATE_ANONYMOUS=1000000/s,1000000/m

cleanup() {
  if [ "${MG_BENCH_KEEP:-0}" = 1 ]; then
    echo "stack left running in $var (stop: scripts/supervise stop $var; redis-cli -p $MG_REDIS_PORT shutdown; pg_ctl -D $var/pg stop)"
    return
  fi
  "$root/scripts/supervise" stop "$var" >/dev/null 2>&1 || true
  mg_redis_stop "$var" "$MG_REDIS_PORT"
  mg_pg_stop "$var"
  rm -rf "$var"
}
trap cleanup EXIT

mkdir -p "$var/log"
"$root/build/bin/mg-admin" make-secret "$MG_JWT_SECRET_FILE" >/dev/null
mg_pg_start "$var" "$MG_PG_PORT"
mg_redis_start "$var" "$MG_REDIS_PORT" yes
procfile=$var/Procfile.demo
{ cat "$root/Procfile"; echo "sim: build/bin/mg-provider-sim"; } >"$procfile"
MG_PROCFILE=$procfile "$root/scripts/keys" "$var/keys" >/dev/null
export MG_KEYS=$var/keys

held=fetcher
[ "${MG_BENCH_FETCHER_FIRST:-0}" = 1 ] && held=
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$root/scripts/supervise" start "$var" "$procfile" $held
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.1f}')" "$(date +%s.%N)" "$t0"; }
for _ in $(seq 1 600); do
  curl -fsS "$base/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$base/ready" >/dev/null || { echo "bench: the stack did not become ready (logs: $var/log)" >&2; MG_BENCH_KEEP=1; exit 1; }
echo "ready after $(elapsed) s; loading the bundled catalog (scripts/load-catalog) while polling"
(
  "$root/scripts/load-catalog" >"$var/log/load-catalog.log" 2>&1 || echo "bench: load-catalog failed (see $var/log/load-catalog.log)" >&2
  echo "catalog loaded after $(elapsed) s"
  [ -z "$held" ] || "$root/scripts/supervise" up "$var" fetcher
) &
load=$!

rc=0
python3 - "$base" "$t0" "$max_s" <<'PY' || rc=$?
import json, sys, time, urllib.request
base, t0, max_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])

def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=10) as r:
            return json.load(r)
    except Exception:
        return None

last = None
while True:
    now = time.time() - t0
    ids = []
    for path in ("/api/v1/trending?per_page=20", "/api/v1/discover?sort=popularity&per_page=20"):
        page = get(path)
        for item in (page or {}).get("results", []):
            if item["id"] not in ids:
                ids.append(item["id"])
    trailer = offers = 0
    for i in ids:
        d = get(f"/api/v1/content/{i}") or {}
        trailer += any(v.get("type") == "trailer" for v in d.get("videos") or [])
        offers += bool(d.get("offers"))
    state = (len(ids), trailer, offers)
    if state != last:
        print(f"{now:6.1f} s: {len(ids)} titles on the first pages, {trailer} with a trailer, {offers} with offers", flush=True)
        last = state
    if ids and trailer == len(ids) and offers == len(ids):
        print(f"first page complete {now:.1f} s after start")
        break
    if now > max_s:
        print(f"first page NOT complete {max_s:.0f} s after start")
        sys.exit(1)
    time.sleep(1)
PY
wait "$load" || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
