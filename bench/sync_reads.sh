#!/usr/bin/env bash
# Reads of a user's state: GET /api/v1/me/watchlist with wrk, one signed-in
# user with MG_BENCH_TITLES titles on the watchlist (and progress on each),
# MG_BENCH_CONNECTIONS connections for MG_BENCH_SECONDS seconds, next to nginx
# serving the same reply bytes in the same run (the x_nginx column).
#
# Builds Release (build-release, only the processes it starts), starts a
# throw-away PostgreSQL and Redis (unless MG_PG_URL / MG_REDIS_URL are set),
# mg-broker, every actor the routes name and one gateway.
#   MG_BENCH_TITLES       titles on the watchlist (default 20)
#   MG_BENCH_SECONDS      measured seconds (default 15)
#   MG_BENCH_CONNECTIONS  wrk connections (default 16)
set -euo pipefail
titles=${MG_BENCH_TITLES:-20}
seconds=${MG_BENCH_SECONDS:-15}
connections=${MG_BENCH_CONNECTIONS:-16}
threads=2
for tool in curl wrk redis-server nginx; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
export BENCH_TARGETS="mg-broker mg-gateway mg-catalog mg-resolver mg-search mg-accounts mg-ratelimit mg-sync"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_redis
bench_open_limits
http_port=$(mg_free_port)
bench_start broker "${BENCH_ROUTED_ACTORS[@]}"
MG_HTTP_PORT=$http_port "$bin/mg-gateway" 2>"$tmp/log/gateway.log" &
pids+=($!)
bench_wait_ready "$http_port"

api=http://127.0.0.1:$http_port/api/v1
login='{"email":"reader@example.com","password":"correct horse battery"}'
curl -sf -H 'Content-Type: application/json' -d "$login" "$api/auth/register" >/dev/null
token=$(curl -sf -H 'Content-Type: application/json' -d "$login" "$api/auth/login" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "bench: login failed" >&2; exit 1; }
for i in $(seq 1 "$titles"); do
  id=$(printf '00000000-0000-4000-8000-%012d' "$i")
  curl -sf -X PUT -H "Authorization: Bearer $token" "$api/me/watchlist/$id" >/dev/null
  curl -sf -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
       -d '{"position_s":60,"duration_s":5400}' "$api/me/progress/$id" >/dev/null
done

url=$api/me/watchlist
# The reference in the same run: nginx serving this very reply as a static
# file, so the ratio reads "what a user's state costs over serving its bytes".
curl -sf -H "Authorization: Bearer $token" "$url" >"$tmp/watchlist.json"
nginx_port=$(mg_free_port)
bench_nginx "$nginx_port" "$tmp/watchlist.json"
read -r ref_rps ref_p50 ref_p99 ref_bad <<<"$(bench_wrk_stats "http://127.0.0.1:$nginx_port/static.json")"
read -r rps p50 p99 bad <<<"$(bench_wrk_stats "$url" -H "Authorization: Bearer $token")"
if [ "$bad" -ne 0 ] || [ "$ref_bad" -ne 0 ]; then
  echo "bench: errors answered (watchlist $bad, nginx $ref_bad)" >&2
  exit 1
fi
echo "GET /me/watchlist ($titles titles, $(wc -c <"$tmp/watchlist.json") B), $connections connections x ${seconds}s; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %9s %9s %9s\n' request req/s p50_ms p99_ms x_nginx
printf '%-28s %10s %9s %9s %9s\n' "nginx, same bytes" "$ref_rps" "$ref_p50" "$ref_p99" 1.00
printf '%-28s %10s %9s %9s %9.3f\n' "GET /me/watchlist" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$ref_rps" 'BEGIN { print (b > 0) ? a / b : 0 }')"
