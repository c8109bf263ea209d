#!/usr/bin/env bash
# Availability alerts: the time from an availability change sent to the
# indexer to each concerned user's notification event on the bus (the
# subscription every gateway thread's SSE code reads), with MG_BENCH_USERS
# users holding the title (default 1,000), over MG_BENCH_ROUNDS changes
# (default 20). Builds Release (build-release), starts a throw-away
# PostgreSQL (unless MG_PG_URL is set), mg-broker, mg-indexer and mg-alerts,
# then runs mg-alerts-bench (bench/alerts_bench.c).
set -euo pipefail
users=${MG_BENCH_USERS:-1000}
rounds=${MG_BENCH_ROUNDS:-20}
export BENCH_TARGETS="mg-broker mg-indexer mg-alerts mg-alerts-bench mg-admin"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

export MG_EVENTS=$MG_EVENTS_SUB_BIND
bench_start broker indexer alerts
# Migrations (under an advisory lock) and registration.
sleep 3
echo "mg-alerts-bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$bin/mg-alerts-bench" "$users" "$rounds"
