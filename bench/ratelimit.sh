#!/usr/bin/env bash
# Cost of rate limiting, measured in one run.
#
# Builds Release (build-release, or MG_BENCH_BUILD), starts a throw-away
# PostgreSQL and Redis (unless MG_PG_URL / MG_REDIS_URL are set), mg-broker,
# every actor the routes name, and five gateways, limits raised so that
# nothing is refused (the counting is what is measured, not 429s):
#   lease        the default: decisions grant leases (MG_RATE_LEASE=1), reads
#                ask the limiter and the actor at once
#   parallel     MG_RATE_LEASE=0: one ratelimit.check per request, reads in parallel
#   serial       MG_RATE_LEASE=0 MG_RATE_PARALLEL_READS=0: every request waits for its decision
#   unlimited    MG_RATE_ENABLED=0
#   lease+memo   the default with genres answered from the gateway's memory
# The first four keep the memo off (MG_REFERENCE_CACHE_S=0): genres is one
# bus round trip to the catalog there. Then:
#   decision latency  mg-ratelimit-bench: the GCRA script through the actor's
#                     code (one EVALSHA) and ratelimit.check through the broker
#   gateway req/s     the same wrk load on GET /api/v1/genres against each
#                     gateway, alternating, best of MG_BENCH_ROUNDS rounds
#   MG_BENCH_SECONDS     seconds per measured run (default 10)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
#   MG_BENCH_ROUNDS      rounds (default 2)
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
# Nothing is refused during the measured runs: every request is counted.
# (A lease is then a hundredth of 1,000,000/m over the holders: 41.)
export MG_RATE_ANONYMOUS=1000000/s,1000000/m
export MG_RATE_ENTERPRISE=1000000/s,1000000/m
export MG_REFERENCE_CACHE_S=0
names=(lease parallel serial unlimited lease+memo)
settings=("" "MG_RATE_LEASE=0" "MG_RATE_LEASE=0 MG_RATE_PARALLEL_READS=0" "MG_RATE_ENABLED=0"
          "MG_REFERENCE_CACHE_S=30")
ports=()
bench_start broker "${BENCH_ROUTED_ACTORS[@]}"
for i in "${!names[@]}"; do
  ports[i]=$(mg_free_port)
  # shellcheck disable=SC2086
  env MG_HTTP_PORT="${ports[i]}" ${settings[i]} "$bin/mg-gateway" 2>"$tmp/log/gateway-$i.log" &
  pids+=($!)
done

bench_wait_ready "${ports[@]}"
curl -sf -D - -o /dev/null "http://127.0.0.1:${ports[0]}/api/v1/genres" | grep -qi '^RateLimit-Policy:' ||
  { echo "bench: the limited gateway sends no rate-limit headers" >&2; exit 1; }

echo "decision latency ($decisions decisions each):"
"$bin/mg-ratelimit-bench" "$decisions" | tee "$tmp/latency.txt"


best=(0 0 0 0 0); p99s=(0 0 0 0 0)
for round in $(seq 1 "$rounds"); do
  for i in "${!names[@]}"; do
    read -r rps p99 <<<"$(bench_wrk "http://127.0.0.1:${ports[i]}/api/v1/genres")"
    printf 'round %s: %-11s %s req/s p99 %s ms\n' "$round" "${names[i]}" "$rps" "$p99"
    if [ "$rps" -gt "${best[i]}" ]; then best[i]=$rps; p99s[i]=$p99; fi
  done
done

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency, best of $rounds; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %10s %10s %8s\n' "GET /api/v1/genres, gateway" "req/s" "p99 ms" "ratio"
for i in "${!names[@]}"; do
  printf '%-40s %10s %10s %8s\n' "${names[i]}" "${best[i]}" "${p99s[i]}" \
    "$(awk -v a="${best[i]}" -v b="${best[3]}" 'BEGIN { printf "%.2f", a / b }')"
done
echo "(ratio: against the unlimited gateway, memo off)"
