#!/usr/bin/env bash
# Live sync: many open Server-Sent Events streams, the time from a write on
# one device to its event on another, and the writes accepted per second.
#
# Builds Release (build-release), starts a throw-away PostgreSQL and Redis
# (unless MG_PG_URL / MG_REDIS_URL are set), mg-broker, every actor the
# routes name and one gateway, then runs mg-sync-bench (bench/sync_bench.c):
#   streams     MG_BENCH_USERS users x MG_BENCH_DEVICES devices, one SSE
#               stream per device, all open for the whole run
#   latency     MG_BENCH_PUTS progress PUTs from device 0 of a user, paced
#               (one per 20 ms); time to the event on device 1's stream, and
#               the PUT's own round trip in the same run as the reference
#   throughput  MG_BENCH_WRITERS connections writing POST /api/v1/sync/ops
#               batches (50 ops), then PUT /api/v1/me/progress, for
#               MG_BENCH_SECONDS each, while the streams receive the events
#   MG_BENCH_USERS    users (default 100)
#   MG_BENCH_DEVICES  devices (and streams) per user, 2..10 (default 10)
#   MG_BENCH_PUTS     measured PUTs (default 500)
#   MG_BENCH_SECONDS  seconds per throughput phase (default 10; 0 skips them)
#   MG_BENCH_WRITERS  writer connections (default 4)
set -euo pipefail
users=${MG_BENCH_USERS:-100}
devices=${MG_BENCH_DEVICES:-10}
puts=${MG_BENCH_PUTS:-500}
seconds=${MG_BENCH_SECONDS:-10}
writers=${MG_BENCH_WRITERS:-4}
for tool in curl redis-server; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
# Each stream is a socket in the gateway and in the client.
need=$((users * devices + 512))
if [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || { echo "bench: ulimit -n $need is not allowed here" >&2; exit 1; }
fi
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_redis
bench_open_limits
export MG_EVENTS=$MG_EVENTS_SUB_BIND
http_port=$(mg_free_port)
bench_start broker "${BENCH_ROUTED_ACTORS[@]}"
MG_HTTP_PORT=$http_port "$bin/mg-gateway" 2>"$tmp/log/gateway.log" &
pids+=($!)
bench_wait_ready "$http_port"

echo "mg-sync-bench: $users users x $devices devices = $((users * devices)) streams, $puts PUTs," \
     "$writers writers x ${seconds}s; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$bin/mg-sync-bench" "$http_port" "$users" "$devices" "$puts" "$seconds" "$writers"
