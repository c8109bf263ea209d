#!/usr/bin/env bash
# The cost of CURVE on the bus: GET /api/v1/genres (gateway -> broker ->
# catalog -> back) on a stack with CURVE (the default) and on the same stack
# with MG_KEYS=off (plaintext), alternating, in one run, same wrk settings.
# Each round starts a fresh stack (broker, the routed actors, gateway) on
# fresh ports and stops it after its measurement.
#   MG_BENCH_SECONDS     seconds per measured run (default 8)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
#   MG_BENCH_ROUNDS      rounds of (plaintext, CURVE) (default 2)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-8}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=${MG_BENCH_THREADS:-2}
rounds=${MG_BENCH_ROUNDS:-2}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
export MG_RESOLVER_INGEST=0 MG_RATE_ENABLED=0 MG_RATE_ANONYMOUS=1000000/s,1000000/m
bench_redis
keys=$MG_KEYS

# bench_round MODE: one stack with MG_KEYS=$keys (curve) or off (plain);
# prints "rps p99_ms".
bench_round() {
  local mode=$1 first=${#pids[@]} port pid
  if [ "$mode" = curve ]; then export MG_KEYS=$keys; else export MG_KEYS=off; fi
  port=$(mg_free_port)
  export MG_HTTP_PORT=$port
  export MG_BROKER=tcp://127.0.0.1:$(mg_free_port)
  export MG_BROKER_BIND=$MG_BROKER
  MG_EVENTS_PUB=tcp://127.0.0.1:$(mg_free_port)
  export MG_EVENTS_PUB MG_EVENTS_PUB_BIND=$MG_EVENTS_PUB
  MG_EVENTS=tcp://127.0.0.1:$(mg_free_port)
  export MG_EVENTS MG_EVENTS_SUB_BIND=$MG_EVENTS
  bench_start broker "${BENCH_ROUTED_ACTORS[@]}" gateway
  bench_wait_ready "$port" >&2
  bench_wrk "http://127.0.0.1:$port/api/v1/genres"
  for pid in "${pids[@]:$first}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:$first}"; do wait "$pid" 2>/dev/null || true; done
}

declare -A sum=()
echo "wrk -t$threads -c$connections -d${seconds}s; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-6s %-9s %10s %10s\n' round bus "req/s" "p99 ms"
for round in $(seq 1 "$rounds"); do
  for mode in plain curve; do
    read -r rps p99 <<<"$(bench_round "$mode")"
    sum[$mode]=$(( ${sum[$mode]:-0} + rps ))
    printf '%-6s %-9s %10s %10s\n' "$round" "$mode" "$rps" "$p99"
  done
done
awk -v p="${sum[plain]}" -v c="${sum[curve]}" -v n="$rounds" \
  'BEGIN { printf "mean   plain %10.0f  curve %10.0f  curve/plain %.2f\n", p / n, c / n, c / p }'
