#!/usr/bin/env bash
# Where a first import spends its time: bench/ingest.sh with
# MG_BENCH_FIRST_ONLY=1 against a throw-away PostgreSQL that loads
# pg_stat_statements, with `perf record -g` on mg-indexer for the import.
#
# Prints bench/ingest.sh's report (items/s, CPU seconds per process), the
# statements by total time inside the server, and perf's top symbols of
# mg-indexer (by shared object, then by symbol). MG_BENCH_PERF_S (default 25)
# is how long perf records; perf must be installed (linux-perf).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/common.sh
. "$root/scripts/lib/common.sh"
# shellcheck source=scripts/lib/services.sh
. "$root/scripts/lib/services.sh"

dir=$(mktemp -d /tmp/mg-ingest-profile.XXXXXX)
perf_pid=
cleanup() {
  [ -n "$perf_pid" ] && kill "$perf_pid" 2>/dev/null || true
  mg_pg_stop "$dir"
  rm -rf "$dir"
}
trap cleanup EXIT
port=$(mg_free_port)
mg_pg_start "$dir" "$port"
data=$dir/pg
echo "shared_preload_libraries = 'pg_stat_statements'" >>"$data/postgresql.conf"
# Statements run inside triggers and functions too (the credits trigger's
# people insert and department count, the foreign keys' checks), each also
# counted in the statement that fired it.
echo "pg_stat_statements.track = all" >>"$data/postgresql.conf"
mg_as_pg "$MG_PG_BIN/pg_ctl" -D "$data" -m fast -w restart -l "$dir/log/postgres.log" >/dev/null
url="postgresql://postgres@127.0.0.1:$port/mediagateway"
for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
psql -q "$url" -c "CREATE EXTENSION pg_stat_statements" >/dev/null

# perf follows mg-indexer once bench/ingest.sh has started it (the newest
# mg-indexer whose environment names this database).
(
  for _ in $(seq 1 600); do
    for pid in $(pgrep -n -x mg-indexer || true); do
      if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q "127.0.0.1:$port/"; then
        sleep 2
        exec perf record -g -o "$dir/perf.data" -p "$pid" -- sleep "${MG_BENCH_PERF_S:-25}" >/dev/null 2>&1
      fi
    done
    sleep 0.1
  done
) &
perf_pid=$!

MG_PG_URL=$url MG_BENCH_FIRST_ONLY=1 "$root/bench/ingest.sh"
wait "$perf_pid" || true
perf_pid=

echo "statements by total time in the server (ms, calls, statement):"
psql "$url" -Atc "SELECT round (total_exec_time)::bigint, calls, left (regexp_replace (query, '\s+', ' ', 'g'), 110)
                  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20" | sed 's/^/  /'
if [ -f "$dir/perf.data" ]; then
  echo "mg-indexer, perf samples by shared object:"
  perf report -i "$dir/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8
  echo "mg-indexer, perf samples by symbol:"
  perf report -i "$dir/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25
fi
