#!/usr/bin/env bash
# Cost of available=mine's services lookup (docs/my-services.md).
#
# Builds Release (build-release), starts a throw-away PostgreSQL (unless
# MG_PG_URL is set), mg-broker, every actor the routes name and two gateways:
# one caching a caller's services for MG_MINE_CACHE_S=10 s (the default) and
# one asking sync.preferences.get on every request (MG_MINE_CACHE_S=0), over
# 2,000 titles with US offers. One user with services and a region is signed in; then, alternating, best of
# MG_BENCH_ROUNDS rounds, the same wrk load on GET /api/v1/discover:
#   anonymous            no lookup, no marks
#   signed in, cached    marks from the cached services
#   signed in, uncached  one sync.preferences.get per request, then the read
# and available=mine on the cached gateway.
#   MG_BENCH_SECONDS     seconds per measured run (default 10)
#   MG_BENCH_CONNECTIONS connections (default 16)
#   MG_BENCH_THREADS     wrk threads (default 2)
#   MG_BENCH_ROUNDS      rounds (default 2)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-10}
connections=${MG_BENCH_CONNECTIONS:-16}
threads=${MG_BENCH_THREADS:-2}
rounds=${MG_BENCH_ROUNDS:-2}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
BENCH_TARGETS=${BENCH_TARGETS:-"mg-broker mg-gateway mg-catalog mg-resolver mg-search mg-accounts mg-ratelimit mg-sync mg-admin"}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

export MG_RESOLVER_INGEST=0
export MG_RATE_ANONYMOUS=1000000/s,1000000/m
export MG_RATE_FREE=1000000/s,1000000/m
cached_port=$(mg_free_port)
uncached_port=$(mg_free_port)
bench_start broker "${BENCH_ROUTED_ACTORS[@]}"
MG_HTTP_PORT=$cached_port MG_MINE_CACHE_S=10 "$bin/mg-gateway" 2>"$tmp/log/gateway-cached.log" &
pids+=($!)
MG_HTTP_PORT=$uncached_port MG_MINE_CACHE_S=0 "$bin/mg-gateway" 2>"$tmp/log/gateway-uncached.log" &
pids+=($!)
bench_wait_ready "$cached_port" "$uncached_port"

# 2,000 titles, each with one US subscription offer on one of four platforms.
psql -q -v ON_ERROR_STOP=1 "$MG_PG_URL" <<'SQL'
INSERT INTO content (id, type, title, year, popularity, vote_average, vote_count, checksum)
  SELECT gen_random_uuid (), 'movie', 'Bench title ' || i, 1990 + i % 30, i, 6.5, 100, '\x00'
  FROM generate_series (1, 2000) i;
INSERT INTO availability (content_id, platform, region, type, source)
  SELECT id, (ARRAY ['netflix', 'hulu', 'max', 'prime-video']) [1 + abs (hashtext (id::text)) % 4], 'US',
         'subscription', 'bench'
  FROM content WHERE title LIKE 'Bench title %';
SQL

api=http://127.0.0.1:$cached_port/api/v1
body='{"email":"bench-mine@example.com","password":"bench-password-1"}'
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "$api/auth/register"
token=$(curl -sf -X POST -H 'Content-Type: application/json' -d "$body" "$api/auth/login" |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/')
auth="Authorization: Bearer $token"
curl -sf -o /dev/null -X PUT -H "$auth" -H 'Content-Type: application/json' \
  -d '{"services":["netflix","prime-video","disney-plus"],"region":"US"}' "$api/me/preferences"
curl -sf -H "$auth" "$api/discover?per_page=1" | grep -q '"on_my_services"' ||
  { echo "bench: signed-in items are not marked" >&2; exit 1; }

path=/api/v1/discover
declare -A best p99s
for round in $(seq 1 "$rounds"); do
  for run in anonymous cached uncached mine; do
    case $run in
      anonymous) args=("http://127.0.0.1:$cached_port$path") ;;
      cached)    args=("http://127.0.0.1:$cached_port$path" -H "$auth") ;;
      uncached)  args=("http://127.0.0.1:$uncached_port$path" -H "$auth") ;;
      mine)      args=("http://127.0.0.1:$cached_port$path?available=mine" -H "$auth") ;;
    esac
    read -r rps p99 <<<"$(bench_wrk "${args[@]}")"
    echo "round $round: $run $rps req/s p99 $p99 ms"
    if [ "$rps" -gt "${best[$run]:-0}" ]; then best[$run]=$rps; p99s[$run]=$p99; fi
  done
done

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency, best of $rounds; $(nproc) cores"
printf '%-44s %10s %10s\n' target "req/s" "p99 ms"
printf '%-44s %10s %10s\n' "GET $path, anonymous" "${best[anonymous]}" "${p99s[anonymous]}"
printf '%-44s %10s %10s\n' "GET $path, signed in, services cached" "${best[cached]}" "${p99s[cached]}"
printf '%-44s %10s %10s\n' "GET $path, signed in, lookup per request" "${best[uncached]}" "${p99s[uncached]}"
printf '%-44s %10s %10s\n' "GET $path?available=mine, cached" "${best[mine]}" "${p99s[mine]}"
