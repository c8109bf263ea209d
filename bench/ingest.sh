#!/usr/bin/env bash
# Catalog ingestion and entity resolution, end to end through the actors.
#
# Builds Release, starts a throw-away PostgreSQL (unless MG_PG_URL is set:
# it must then be an empty database), mg-broker, mg-indexer and mg-resolver,
# and measures:
#   1. the bundled catalog (data/catalog.jsonl.gz, 4,803 films with cast,
#      crew and ~64,000 offers) through enqueue -> resolve -> apply: items/s,
#      against the goal of 1,000 items/s;
#   2. the same catalog again: items/s, and the writes and events it caused
#      (must be 0);
#   3. MovieLens movies.csv through resolver.resolve (title, year and genres
#      only, nothing created), scored by ../shared/tools/eval_resolve.py
#      against links-dev.csv;
#   4. MovieLens small imported on top (merged by ids from links-dev.csv, by
#      title and year otherwise): items/s and entities created.
# Needs ../shared/data and ../shared/tools beside the repository (or
# MG_SHARED_DIR) for 3 and 4.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

shared=${MG_SHARED_DIR:-$bench_root/../shared}
if [ ! -f "$shared/data/movielens-small/movies.csv" ] || [ ! -f "$shared/tools/eval_resolve.py" ]; then
  echo "bench: $shared/data/movielens-small and $shared/tools are needed (set MG_SHARED_DIR)" >&2
  exit 1
fi
bench_start broker indexer resolver

# The indexer migrates on start; an empty import succeeds once it answers.
: >"$tmp/empty.jsonl"
for _ in $(seq 1 200); do
  "$bin/mg-import" "$tmp/empty.jsonl" >/dev/null 2>&1 && break
  sleep 0.1
done

# import NAME ARGS...: run mg-import --wait, keep its report, print "items/s".
import() {
  local name=$1
  shift
  "$bin/mg-import" --wait "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  awk '/end to end/ { print $(NF - 1) }' "$tmp/$name.out"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
first=$(import first "$bench_root/data/catalog.jsonl.gz")
echo "bundled catalog, first import:   $first items/s  ($(awk -v a="$first" 'BEGIN { printf "%.2f", a / 1000 }') x the 1,000 items/s goal)"
grep "pipeline:" "$tmp/first.err" | sed 's/^mg-import: /  /'
again=$(import again "$bench_root/data/catalog.jsonl.gz")
echo "bundled catalog, again:          $again items/s"
grep "pipeline:" "$tmp/again.err" | sed 's/^mg-import: /  /'

"$bin/mg-resolve" "$shared/data/movielens-small/movies.csv" >"$tmp/pred.csv" 2>"$tmp/resolve.err"
echo "MovieLens through resolver.resolve (title, year, genres), scored on links-dev.csv:"
python3 "$shared/tools/eval_resolve.py" "$tmp/pred.csv" | sed 's/^/  /'
ml=$(import movielens "$shared/data/movielens-small")
echo "MovieLens small imported on top: $ml items/s"
grep "pipeline:" "$tmp/movielens.err" | sed 's/^mg-import: /  /'
