#!/usr/bin/env bash
# Search relevance on ../shared/data/search-dev, ours and the reference peer's.
#
# Builds Release, starts a throw-away PostgreSQL (unless MG_PG_URL is set: it
# must then be an empty database), mg-broker, mg-indexer and mg-resolver,
# loads the bundled catalog (data/catalog.jsonl.gz) through the pipeline,
# then starts mg-search, mg-catalog and mg-gateway, runs every query of the
# dev set through GET /api/v1/search (bench/relevance_run.py), and scores it
# with ../shared/tools/eval_search.py. In the same run it scores the peer
# (../shared/tools/peer-minisearch, MiniSearch 7.2; npm install in a copy)
# and prints both side by side.
#   (mg-embed-train builds the LSA model of the catalog before mg-search starts)
#   MG_SEARCH_PARAMS   extra query string for every search (default none: the API default, hybrid)
#   MG_SHARED_DIR      where data/ and tools/ are (default ../shared)
#   MG_RELEVANCE_PEER  off: leave the peer out (its figures do not change with this code)
set -euo pipefail
# Only the programs the run starts (a whole build, tests included, takes long on a shared machine).
export BENCH_TARGETS=${BENCH_TARGETS:-"mg-broker mg-indexer mg-resolver mg-import mg-embed-train mg-search mg-catalog \
  mg-accounts mg-ratelimit mg-sync mg-alerts mg-gateway mg-keys"}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

shared=${MG_SHARED_DIR:-$bench_root/../shared}
qdir=$shared/data/search-dev
# The peer reads tmdb_5000_credits.csv beside the movies for its people field
# (top-5 billed cast and directors), as ours indexes cast and crew.
for need in "$qdir/title-queries.tsv" "$shared/tools/eval_search.py" "$shared/tools/peer-minisearch/run.mjs" \
            "$shared/data/tmdb5000/tmdb_5000_credits.csv"; do
  [ -e "$need" ] || { echo "bench: $need is missing (set MG_SHARED_DIR)" >&2; exit 1; }
done
params=${MG_SEARCH_PARAMS-}

bench_start broker indexer resolver
: >"$tmp/empty.jsonl"
for _ in $(seq 1 200); do
  "$bin/mg-import" "$tmp/empty.jsonl" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/mg-import" --wait "$bench_root/data/catalog.jsonl.gz" >"$tmp/import.out" 2>"$tmp/import.err"

# The embedder model of this catalog (mg-embed-train), for semantic/hybrid.
"$bin/mg-embed-train" --out "$tmp/lsa.model" 2>"$tmp/train.err" || { cat "$tmp/train.err" >&2; exit 1; }
export MG_EMBED_MODEL=$tmp/lsa.model

http_port=$(mg_free_port)
export MG_HTTP_PORT=$http_port
start_ms=$(date +%s%3N)
bench_redis
# Every query comes from one address: raise the anonymous limit for the run.
export MG_RATE_ANONYMOUS=1000000/s,1000000/m
bench_start search catalog accounts ratelimit sync alerts gateway
gateway=http://127.0.0.1:$http_port
# The replica loads the whole catalog and its people before it takes work.
BENCH_READY_S=${BENCH_READY_S:-300} bench_wait_ready "$http_port"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "search replica ready $(( $(date +%s%3N) - start_ms )) ms after start (snapshot of the catalog, index build); RSS $(ps -o rss= -p "${pids[3]}") KiB"

python3 "$bench_root/bench/relevance_run.py" "$gateway" "$qdir" "$params" >"$tmp/ours.tsv" 2>"$tmp/ours.err"
python3 "$shared/tools/eval_search.py" "$tmp/ours.tsv" "$qdir" >"$tmp/ours.score"

if [ "${MG_RELEVANCE_PEER:-on}" = off ]; then
  # The peer's figures do not depend on this code: a rerun may leave it out.
  sed 's/: .*/: (not run)/' "$tmp/ours.score" >"$tmp/peer.score"
  echo "not run (MG_RELEVANCE_PEER=off)" >"$tmp/peer.err"
else
  mkdir -p "$tmp/peer"
  cp "$shared/tools/peer-minisearch/package.json" "$shared/tools/peer-minisearch/run.mjs" "$tmp/peer/"
  (cd "$tmp/peer" && npm install --silent --no-audit --no-fund >/dev/null 2>&1)
  node "$tmp/peer/run.mjs" "$qdir" "$shared/data/tmdb5000/tmdb_5000_movies.csv" >"$tmp/peer.tsv" 2>"$tmp/peer.err"
  python3 "$shared/tools/eval_search.py" "$tmp/peer.tsv" "$qdir" >"$tmp/peer.score"
fi

echo "relevance on $qdir (ours: GET /api/v1/search?$params&per_page=10)"
paste -d '\t' "$tmp/ours.score" "$tmp/peer.score" | awk -F '\t' '
  BEGIN { printf "%-16s %-44s %s\n", "set", "mg-search", "peer (MiniSearch 7.2)" }
  { split($1, a, ": "); split($2, b, ": "); printf "%-16s %-44s %s\n", a[1], a[2], b[2] }'
echo "ours: $(cat "$tmp/ours.err" | tail -n 1)"
echo "peer: $(cat "$tmp/peer.err" | tail -n 1)"
if [ -n "${MG_RELEVANCE_KEEP:-}" ]; then cp "$tmp/ours.tsv" "$MG_RELEVANCE_KEEP"; fi
