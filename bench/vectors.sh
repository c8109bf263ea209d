#!/usr/bin/env bash
# The vector side of search, measured in one run.
#
# Builds Release (build-release), starts a throw-away PostgreSQL and Redis
# (unless MG_PG_URL / MG_REDIS_URL are set), mg-broker, mg-indexer and
# mg-resolver, loads the bundled catalog, trains the LSA model, then:
#   catalog embedding  mg-embedder started on it: time until content_vectors
#                      holds every title
#   query embedding    mg-embedder-bench: the LSA fold-in in process (what a
#                      search replica does) against embedder.embed through the
#                      broker, uncached and from the Redis cache (ratios)
#   vector index       mg-hnsw-bench: HNSW build time and memory for
#                      MG_BENCH_VECTORS clustered unit vectors of MG_BENCH_DIMS,
#                      top-100 search against a flat scan in the same run
#                      (ratio) and recall@10
#   MG_BENCH_VECTORS   vectors in the index (default 100000)
#   MG_BENCH_DIMS      their dimensions (default 768)
#   MG_BENCH_TEXTS     query texts embedded (default 2000: catalog titles)
set -euo pipefail
vectors=${MG_BENCH_VECTORS:-100000}
dims=${MG_BENCH_DIMS:-768}
texts=${MG_BENCH_TEXTS:-2000}
command -v psql >/dev/null || { echo "bench: psql is required" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_start broker indexer resolver
: >"$tmp/empty.jsonl"
for _ in $(seq 1 200); do
  "$bin/mg-import" "$tmp/empty.jsonl" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/mg-import" --wait "$bench_root/data/catalog.jsonl.gz" >"$tmp/import.out" 2>"$tmp/import.err"
"$bin/mg-embed-train" --out "$tmp/lsa.model" 2>"$tmp/train.err" || { cat "$tmp/train.err" >&2; exit 1; }
export MG_EMBED_MODEL=$tmp/lsa.model
bench_redis
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

titles=$(psql "$MG_PG_URL" -Atc "SELECT count(*) FROM content")
start_ms=$(date +%s%3N)
bench_start embedder
stored=0
for _ in $(seq 1 1200); do
  stored=$(psql "$MG_PG_URL" -Atc "SELECT count(*) FROM content_vectors")
  [ "$stored" -ge "$titles" ] && break
  sleep 0.1
done
echo "catalog embedding: $stored of $titles titles stored by mg-embedder in $(( $(date +%s%3N) - start_ms )) ms" \
     "(model $(psql "$MG_PG_URL" -Atc "SELECT min(model) FROM content_vectors"))"

psql "$MG_PG_URL" -Atc "SELECT title FROM content ORDER BY popularity DESC LIMIT $texts" \
  | "$bin/mg-embedder-bench" "$texts"
"$bin/mg-hnsw-bench" "$vectors" "$dims" 200
