#!/usr/bin/env bash
# What one request costs on the hot paths, counted rather than timed: the
# system calls, context switches and CPU time per request of the gateway
# (and of each process a request may reach: Redis, the broker, the
# limiter, the catalog), for nginx, GET /health, GET /api/v1/genres (the
# gateway's memory) and GET /api/v1/content/{id} over 1,000 ids (the
# details cache), rate limiting on. Counts do not depend on the machine's
# load the way req/s and p99 do: run it before and after a change.
#
# Builds Release (build-release, or MG_BENCH_BUILD), starts a throw-away
# PostgreSQL and Redis, broker, catalog, ratelimit and one gateway (2
# threads, as scripts/run), seeds 1,000 titles (bench_seed_titles),
# fills the details cache, then per target: one wrk run (warm-up second
# first) with `perf stat` attached to every process above for its
# duration. Prints per target: req/s, p50, p99, then per process
# syscalls/request, context switches/request (voluntary + not) and CPU ms
# per 1,000 requests; with MG_BENCH_SYSCALLS=1 also the gateway's calls by
# name per request (perf's syscalls:sys_enter_* tracepoints).
#   MG_BENCH_SECONDS     seconds per measured run (default 5)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-5}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=${MG_BENCH_THREADS:-2}
for tool in wrk nginx curl psql perf; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
export BENCH_TARGETS="mg-broker mg-gateway mg-catalog mg-ratelimit mg-admin"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

export MG_RATE_ANONYMOUS=1000000/s,1000000/m
bench_redis
bench_start broker catalog ratelimit
broker_pid=${pids[0]} catalog_pid=${pids[1]} ratelimit_pid=${pids[2]}
http_port=$(mg_free_port)
nginx_port=$(mg_free_port)
MG_HTTP_PORT=$http_port "$bin/mg-gateway" 2>"$tmp/log/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
base=http://127.0.0.1:$http_port
for _ in $(seq 1 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/genres")" = 200 ] && break
  sleep 0.1
done
redis_pid=$(redis-cli -p "$bench_redis_port" info server | awk -F: '/^process_id/ { print $2 + 0 }')

bench_seed_titles
psql -qAt "$MG_PG_URL" -c "SELECT '/api/v1/content/' || id FROM content" >"$tmp/details.txt"
python3 - "$http_port" "$tmp/details.txt" <<'PY'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for path in open(sys.argv[2]):
    conn.request("GET", path.strip())
    conn.getresponse().read()
PY
curl -sf "$base/api/v1/genres" >"$tmp/genres.json"
bench_nginx "$nginx_port" "$tmp/genres.json"
nginx_pids=$(pgrep -P "$(cat "$tmp/nginx/nginx.pid")" | paste -sd,)

# counters: the gateway's answered requests so far (every route, every
# status), its ratelimit.check round trips, its bus calls of any kind, its
# lease renewals ahead and its requests admitted on credit from a renewal
# still out.
counters() {
  curl -s "$base/metrics" | awk '
    /^mg_gateway_http_requests_total\{/ { n += $2 }
    /^mg_gateway_ratelimit_check_seconds_count/ { rl += $2 }
    /^mg_gateway_bus_requests_total\{/ { bus += $2 }
    /^mg_gateway_ratelimit_renewals_total\{/ { renew += $2 }
    /^mg_gateway_ratelimit_on_credit_total / { credit += $2 }
    END { print n + 0, rl + 0, bus + 0, renew + 0, credit + 0 }'
}

events=raw_syscalls:sys_enter,context-switches,task-clock
by_name=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_poll,syscalls:sys_enter_accept4,syscalls:sys_enter_futex,syscalls:sys_enter_ioctl,syscalls:sys_enter_getsockname,syscalls:sys_enter_getpeername

# run NAME URL [PATHS FILE] [PROCESSES...]: one wrk run with perf on the
# processes named (name=pid list); the gateway's requests counted by its metrics
# (nginx's by wrk).
run() {
  local name=$1 url=$2 file=$3 out stats before after rl_before rl_after bus_before bus_after renew_before renew_after credit_before credit_after n rps p50 p99 bad proc
  shift 3
  local wrk_args=()
  [ -n "$file" ] && wrk_args=(-s "$(dirname "${BASH_SOURCE[0]}")/paths.lua" -- "$file")
  wrk -t"$threads" -c"$connections" -d1s "$url" "${wrk_args[@]}" >/dev/null
  local perfs=()
  for proc in "$@"; do
    local ev=$events
    [ "${MG_BENCH_SYSCALLS:-0}" = 1 ] && [ "${proc%%=*}" = gateway ] && ev=$events,$by_name
    perf stat -x, -e "$ev" -p "${proc#*=}" -o "$tmp/perf.${proc%%=*}" &
    perfs+=($!)
  done
  sleep 0.3
  read -r before rl_before bus_before renew_before credit_before <<<"$(counters)"
  out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$url" "${wrk_args[@]}")
  read -r after rl_after bus_after renew_after credit_after <<<"$(counters)"
  sleep 0.1
  kill -INT "${perfs[@]}"
  wait "${perfs[@]}" 2>/dev/null || true
  stats=$(awk '
    function ms(v,   unit) { unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
                            if (unit == "us") return v / 1000; if (unit == "s") return v * 1000; return v }
    /requests in/ { total = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    END { printf "%d %.0f %.2f %.2f %d\n", total, rps, p50, p99, bad + 0 }' <<<"$out")
  read -r n rps p50 p99 bad <<<"$stats"
  [ "$name" = nginx ] || n=$((after - before))
  printf '%-10s %8s req/s  p50 %6s ms  p99 %6s ms  non-2xx %s  (%s requests counted)\n' "$name" "$rps" "$p50" "$p99" "$bad" "$n"
  [ "$name" = nginx ] ||
    printf '    per 1,000 requests: %.1f waited for a ratelimit.check, %.1f lease renewals ahead, %.1f on credit, %.1f bus calls\n' \
      "$(awk -v a=$((rl_after - rl_before)) -v n="$n" 'BEGIN { print a / n * 1000 }')" \
      "$(awk -v a=$((renew_after - renew_before)) -v n="$n" 'BEGIN { print a / n * 1000 }')" \
      "$(awk -v a=$((credit_after - credit_before)) -v n="$n" 'BEGIN { print a / n * 1000 }')" \
      "$(awk -v a=$((bus_after - bus_before)) -v n="$n" 'BEGIN { print a / n * 1000 }')"
  for proc in "$@"; do
    awk -F, -v who="${proc%%=*}" -v n="$n" '
      $3 == "raw_syscalls:sys_enter" { sc = $1 }
      $3 == "context-switches" { cs = $1 }
      $3 == "task-clock" { cpu = $1 }
      $3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 { name = $3; sub(/syscalls:sys_enter_/, "", name);
                                                  detail = detail sprintf(" %s %.2f", name, $1 / n) }
      END { printf "    %-9s syscalls/req %6.2f  cs/req %5.2f  cpu ms/1000 req %7.1f%s\n",
                   who, sc / n, cs / n, cpu / n * 1000, detail }' "$tmp/perf.${proc%%=*}"
  done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
others=(redis="$redis_pid" broker="$broker_pid" ratelimit="$ratelimit_pid" catalog="$catalog_pid")
run nginx "http://127.0.0.1:$nginx_port/static.json" "" nginx="$nginx_pids"
run health "$base/health" "" gateway="$gateway_pid" "${others[@]}"
run genres "$base/api/v1/genres" "" gateway="$gateway_pid" "${others[@]}"
run details "$base" "$tmp/details.txt" gateway="$gateway_pid" "${others[@]}"
echo "wrk -t$threads -c$connections -d${seconds}s, keep-alive, rate limiting on; $(nproc) cores;" \
     "load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
