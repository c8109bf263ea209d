#!/usr/bin/env bash
# Cost of rate limiting, measured in one run.
#
# Builds Release (build-release), starts a throw-away PostgreSQL and Redis
# (unless MG_PG_URL / MG_REDIS_URL are set), mg-broker, every actor the
# routes name, and three gateways: one checking every
# /api/v1 request (limits raised so that nothing is refused: the check is
# what is measured, not 429s) with reads asking the limiter and the actor at
# once (the default), one where every request waits for its decision first
# (MG_RATE_PARALLEL_READS=0) and one with MG_RATE_ENABLED=0. Then:
#   decision latency  mg-ratelimit-bench: the GCRA script through the actor's
#                     code (one EVALSHA) and ratelimit.check through the broker
#   gateway req/s     the same wrk load on GET /api/v1/genres against each
#                     gateway, alternating, best of MG_BENCH_ROUNDS rounds
#   MG_BENCH_SECONDS     seconds per measured run (default 10)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
#   MG_BENCH_ROUNDS      rounds of (limited, unlimited) (default 2)
#   MG_BENCH_DECISIONS   decisions per latency sample (default 20000)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-10}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=${MG_BENCH_THREADS:-2}
rounds=${MG_BENCH_ROUNDS:-2}
decisions=${MG_BENCH_DECISIONS:-20000}
for tool in wrk curl redis-server; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_redis
export MG_RESOLVER_INGEST=0
# Nothing is refused during the measured runs: every request pays for the check.
export MG_RATE_ANONYMOUS=1000000/s,1000000/m
export MG_RATE_ENTERPRISE=1000000/s,1000000/m
limited_port=$(mg_free_port)
serial_port=$(mg_free_port)
open_port=$(mg_free_port)
bench_start broker "${BENCH_ROUTED_ACTORS[@]}"
MG_HTTP_PORT=$limited_port "$bin/mg-gateway" 2>"$tmp/log/gateway-limited.log" &
pids+=($!)
MG_HTTP_PORT=$serial_port MG_RATE_PARALLEL_READS=0 "$bin/mg-gateway" 2>"$tmp/log/gateway-serial.log" &
pids+=($!)
MG_HTTP_PORT=$open_port MG_RATE_ENABLED=0 "$bin/mg-gateway" 2>"$tmp/log/gateway-open.log" &
pids+=($!)

bench_wait_ready "$limited_port" "$serial_port" "$open_port"
curl -sf -D - -o /dev/null "http://127.0.0.1:$limited_port/api/v1/genres" | grep -qi '^RateLimit-Policy:' ||
  { echo "bench: the limited gateway sends no rate-limit headers" >&2; exit 1; }

echo "decision latency ($decisions decisions each):"
"$bin/mg-ratelimit-bench" "$decisions" | tee "$tmp/latency.txt"


best_limited=0; best_serial=0; best_open=0; p99_limited=0; p99_serial=0; p99_open=0
for round in $(seq 1 "$rounds"); do
  read -r rps p99 <<<"$(bench_wrk "http://127.0.0.1:$limited_port/api/v1/genres")"
  echo "round $round: parallel  $rps req/s p99 $p99 ms"
  if [ "$rps" -gt "$best_limited" ]; then best_limited=$rps; p99_limited=$p99; fi
  read -r rps p99 <<<"$(bench_wrk "http://127.0.0.1:$serial_port/api/v1/genres")"
  echo "round $round: serial    $rps req/s p99 $p99 ms"
  if [ "$rps" -gt "$best_serial" ]; then best_serial=$rps; p99_serial=$p99; fi
  read -r rps p99 <<<"$(bench_wrk "http://127.0.0.1:$open_port/api/v1/genres")"
  echo "round $round: unlimited $rps req/s p99 $p99 ms"
  if [ "$rps" -gt "$best_open" ]; then best_open=$rps; p99_open=$p99; fi
done

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency, best of $rounds; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-36s %10s %10s %8s\n' target "req/s" "p99 ms" "ratio"
printf '%-36s %10s %10s %8s\n' "GET /api/v1/genres, no rate limit" "$best_open" "$p99_open" "1.00"
printf '%-36s %10s %10s %8s\n' "GET /api/v1/genres, limited, serial" "$best_serial" "$p99_serial" \
  "$(awk -v a="$best_serial" -v b="$best_open" 'BEGIN { printf "%.2f", a / b }')"
printf '%-36s %10s %10s %8s\n' "GET /api/v1/genres, limited, parallel" "$best_limited" "$p99_limited" \
  "$(awk -v a="$best_limited" -v b="$best_open" 'BEGIN { printf "%.2f", a / b }')"
