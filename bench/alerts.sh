#!/usr/bin/env bash
# Availability alerts: the time from an availability change sent to the
# indexer to each concerned user's "event: notification" read on the user's
# SSE stream (GET /api/v1/sync/stream) through a real gateway, with
# MG_BENCH_USERS users holding the title (default 1,000), each with one
# open, authenticated stream, over MG_BENCH_ROUNDS changes (default 20); and,
# in the same run, to the user's notification event on the bus (the
# subscription every gateway thread's SSE code reads), so the gateway's
# share shows. Builds Release (build-release), starts a throw-away
# PostgreSQL and Redis (unless MG_PG_URL / MG_REDIS_URL are set), mg-broker,
# mg-indexer, every actor the gateway's routes name and one gateway (its
# default MG_HTTP_THREADS, CURVE on the bus as the default stack has it),
# then runs mg-alerts-bench (bench/alerts_bench.c) twice on that stack:
# first with MG_BENCH_REF_USERS users (default 1; 0 skips it), the in-run
# reference, then with MG_BENCH_USERS, and prints the ratio of their p50
# and p95. Users are written straight to PostgreSQL and their access tokens
# signed by the bench with the run's JWT secret, as accounts signs them at
# login (a thousand Argon2id logins would take minutes). MG_BENCH_TRACE=1:
# mg-alerts logs each title's timings (debug) and the script prints their
# medians per run (bench/alerts_trace.awk). MG_BENCH_GATEWAY: the gateway
# binary to run (default the Release build's), to compare two builds of it
# on the same stack. The script prints the gateway's CPU time per run.
set -euo pipefail
users=${MG_BENCH_USERS:-1000}
rounds=${MG_BENCH_ROUNDS:-20}
ref_users=${MG_BENCH_REF_USERS:-1}
command -v redis-server >/dev/null || { echo "bench: redis-server is required" >&2; exit 1; }
# Each stream is a socket in the gateway and in the bench.
need=$((users + 512))
if [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || { echo "bench: ulimit -n $need is not allowed here" >&2; exit 1; }
fi
export BENCH_TARGETS="mg-broker mg-indexer mg-alerts mg-alerts-bench mg-admin mg-gateway mg-catalog mg-resolver
  mg-search mg-accounts mg-ratelimit mg-sync"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_redis
bench_open_limits
export MG_EVENTS=$MG_EVENTS_SUB_BIND
http_port=$(mg_free_port)
others=()
for actor in "${BENCH_ROUTED_ACTORS[@]}"; do
  [ "$actor" = alerts ] || others+=("$actor")
done
bench_start broker indexer "${others[@]}"
if [ "${MG_BENCH_TRACE:-0}" = 1 ]; then
  export MG_BENCH_TRACE
  MG_LOG_LEVEL=debug bench_start alerts
else
  bench_start alerts
fi
MG_HTTP_PORT=$http_port "${MG_BENCH_GATEWAY:-$bin/mg-gateway}" 2>"$tmp/log/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
bench_wait_ready "$http_port"
echo "mg-alerts-bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# run N: one mg-alerts-bench run with N users, its output kept in $tmp/run-N;
# a failed run (e.g. some notifications did not arrive within 30 s) says so
# with its exit status, and the script goes on (set -e would end it without
# a word) and exits 1 at the end.
failed=0
# CPU time (user + system, ms) the gateway has used so far: load-independent
# beside the latencies (the streams' opening is in it too, a few ms).
gateway_cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$gateway_pid/stat"
}
run() {
  local status=0 cpu_before cpu_after
  cpu_before=$(gateway_cpu_ms)
  "$bin/mg-alerts-bench" "$1" "$rounds" "$http_port" >"$tmp/run-$1" 2>&1 || status=$?
  cpu_after=$(gateway_cpu_ms)
  grep -v '^round start_us=' "$tmp/run-$1" || true
  echo "gateway CPU: $((cpu_after - cpu_before)) ms in the run ($1 users x $rounds changes," \
       "$(( (cpu_after - cpu_before) * 1000 / ($1 * rounds) )) us per notification)"
  if [ "${MG_BENCH_TRACE:-0}" = 1 ]; then
    awk -v users="$1" -f "$bench_root/bench/alerts_trace.awk" "$tmp/run-$1" "$tmp/log/alerts.log"
  fi
  if [ "$status" != 0 ]; then
    echo "mg-alerts-bench $1 $rounds: exit status $status" >&2
    failed=1
  fi
}

# p50 and p95 of a run's output line that starts with $2, in ms.
quantiles() { sed -n "s/^$2: p50 \([0-9.]*\) ms, p95 \([0-9.]*\) ms.*/\1 \2/p" "$tmp/run-$1"; }

if [ "$ref_users" -gt 0 ]; then
  run "$ref_users"
fi
run "$users"
[ -n "${MG_BENCH_KEEP_LOG:-}" ] && cp "$tmp/log/alerts.log" "$MG_BENCH_KEEP_LOG"
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$ref_users" -gt 0 ]; then
  for end in "change -> SSE notification" "change -> bus event"; do
    read -r ref50 ref95 <<<"$(quantiles "$ref_users" "$end")"
    read -r p50 p95 <<<"$(quantiles "$users" "$end")"
    awk -v a="$p50" -v b="$ref50" -v c="$p95" -v d="$ref95" -v u="$users" -v r="$ref_users" -v e="$end" \
      'BEGIN { printf "in-run reference (%s): %d users against %d, p50 x %.2f, p95 x %.2f\n", e, u, r, a / b, c / d }'
  done
fi
exit "$failed"
