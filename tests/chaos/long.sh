#!/usr/bin/env bash
# The long form of the chaos test (tests/chaos/test_chaos.c): the same faults
# with real-life timers on the Release build scripts/run uses: the 5 s request
# deadline, Redis and PostgreSQL stopped 10 s each, every part watched 10 s
# after it is back, 8 load threads. Runs on private ports and folders (the dev
# stack and other tests are not touched), prints the per-fault table and
# writes it to REPORT (default: build/chaos-report.md).
#   tests/chaos/long.sh [REPORT]
#   MG_CHAOS_FAULTS=broker,postgres tests/chaos/long.sh   only these faults
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/lib/common.sh
. "$root/scripts/lib/common.sh"
. "$MG_ROOT/scripts/lib/deps.sh"

mg_install_deps
build=$MG_ROOT/build
cmake -S "$MG_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

export MG_CONFIG_FILE=$MG_ROOT/config/default.env MG_SQL_DIR=$MG_ROOT/config/sql
# A JWT secret of this run's own, as scripts/run makes one (no secret ships).
secret_dir=$(mktemp -d /tmp/mg-chaos-secret.XXXXXX)
trap 'rm -rf "$secret_dir"' EXIT
"$build/bin/mg-admin" make-secret "$secret_dir/jwt_secret" >/dev/null
export MG_JWT_SECRET_FILE=$secret_dir/jwt_secret
export MG_CHAOS_DEADLINE_MS=${MG_CHAOS_DEADLINE_MS:-5000}
export MG_CHAOS_FAULT_MS=${MG_CHAOS_FAULT_MS:-10000}
export MG_CHAOS_OBSERVE_MS=${MG_CHAOS_OBSERVE_MS:-10000}
export MG_CHAOS_THREADS=${MG_CHAOS_THREADS:-8}
export MG_CHAOS_REPORT=${1:-$build/chaos-report.md}
status=0
"$build/bin/chaos_test_chaos" || status=$?
echo "figures: $MG_CHAOS_REPORT"
exit "$status"
