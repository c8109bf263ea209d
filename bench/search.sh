#!/usr/bin/env bash
# Search speed at scale: a synthetic catalog of MG_BENCH_ITEMS titles (default
# 100,000) drawn from the bundled catalog's vocabulary (bench/search_gen.py),
# loaded through the pipeline (mg-import -> mg-indexer -> mg-resolver ->
# PostgreSQL), an LSA model trained on it (mg-embed-train), one search
# replica, every routed actor and two gateways: one with the Redis result
# cache, one without (MG_SEARCH_CACHE_TTL_S=0). Reports:
#   - load (items/s), model training and index build time (the replica's
#     snapshot load, vectors included) and the replica's RSS per 100k titles;
#   - server-side took_ms p50/p99 of keyword, semantic and hybrid search over a
#     query mix drawn from the synthetic titles (whole titles, prefixes, one
#     typo, keywords, overview words; never a relevance set's queries);
#   - wrk req/s at MG_BENCH_CONNECTIONS (64) for a cached search, uncached
#     keyword and hybrid searches, and nginx serving the same reply's bytes
#     as a static file, all in this run. Rate limiting is off
#     (MG_RATE_ENABLED=0; bench/ratelimit.sh measures its cost).
#
#   bench/search.sh --titles N     N titles (as MG_BENCH_ITEMS)
#   bench/search.sh --vectors-only --titles N
#       only the replica's vector index at N titles, built straight from
#       generated vectors (mg-hnsw-bench, not through PostgreSQL): build time
#       on MG_SEARCH_BUILD_THREADS threads, memory, recall@10 against an exact
#       scan, top-100 latency, and the index saved and read back (a restart);
#       then the queries with filters of every selectivity (attributes drawn as
#       bench/search_gen.py draws them): CPU time a query and recall@10 against
#       an exact filtered scan, the replica's semantic side (search_nearest)
#       alternated query by query with the way before it (FAISS's search, a
#       full scan when starved).
#       MG_SEARCH_VECTOR_INDEX picks the kind (default here ivf-sq8);
#       MG_BENCH_PROBES="128 256" adds unfiltered rounds of that many lists.
#   bench/search.sh --replica-only --titles N
#       a whole replica's index (FTS5, result items, doc table; vectors with
#       MG_BENCH_MODEL, an LSA model file, or MG_BENCH_MODEL=train: one
#       trained here from the generated file by mg-embed-train --from, on
#       at most 100,000 of its titles, evenly spaced) built straight from the generated
#       catalog (mg-search-bench, NOT through PostgreSQL): build time, where
#       its memory goes, RSS, keyword (and semantic, hybrid) p50/p99 over the query
#       mix; then the index saved as a replica saves it (MG_SEARCH_INDEX_FILE)
#       and a second process reading it back: restart-to-serving time, RSS,
#       the same query mix (its answers' digest must equal the first's);
#       per mode also each query's CPU time, the time per phase of a query
#       (plan, each FTS5 statement, rerank, the semantic side's thread start,
#       embedding, vector walk and wait, fusion, result items) and the slowest
#       queries with their BM25 evaluations.
#   MG_BENCH_ROUNDS      --replica-only: rounds of the query mix (default 1; the
#                        CPU figures are each query's least, e.g. under perf record)
#   MG_BENCH_SLOWEST     --replica-only: slowest queries listed (default 10)
#   MG_BENCH_ITEMS       titles (default 100000)
#   MG_BENCH_DIMS        LSA dimensions (default 512)
#   MG_BENCH_MODES       modes whose took_ms is measured (default "keyword semantic hybrid"; with
#                        --replica-only the modes mg-search-bench runs, e.g. one under perf record)
#   MG_BENCH_SECONDS     seconds per wrk run (default 10)
#   MG_BENCH_CONNECTIONS connections (default 64)
#   MG_BENCH_THREADS     wrk threads (default 2)
set -euo pipefail
vectors_only=
replica_only=
while [ $# -gt 0 ]; do
  case $1 in
    --titles) MG_BENCH_ITEMS=${2:?--titles needs a number}; shift 2 ;;
    --vectors-only) vectors_only=1; shift ;;
    --replica-only) replica_only=1; shift ;;
    *) echo "usage: bench/search.sh [--titles N] [--vectors-only | --replica-only]" >&2; exit 2 ;;
  esac
done
items=${MG_BENCH_ITEMS:-100000}
dims=${MG_BENCH_DIMS:-512}
seconds=${MG_BENCH_SECONDS:-10}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=${MG_BENCH_THREADS:-2}
wrk_timeout=60s
# Build the tool $1 in a Release tree ($root/build-release) and make a scratch
# directory ($dir), removed at exit.
release_tool() {
  root=$(cd "$(dirname "$0")/.." && pwd)
  cmake -S "$root" -B "$root/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build-release" -j2 --target "$1" >/dev/null
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
}
if [ -n "$replica_only" ]; then
  release_tool mg-search-bench
  python3 "$root/bench/search_gen.py" "$root/data/catalog.jsonl.gz" "$items" "$dir/titles.jsonl" "$dir/queries.txt"
  if [ "${MG_BENCH_MODEL:-}" = train ]; then
    cmake --build "$root/build-release" -j2 --target mg-embed-train >/dev/null
    every=$(( (items + 99999) / 100000 ))
    echo "model: $dims dimensions from every ${every}th of the $items titles (mg-embed-train --from)," \
         "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    "$root/build-release/bin/mg-embed-train" --from "$dir/titles.jsonl" --every "$every" --dims "$dims" \
      --out "$dir/model"
    MG_BENCH_MODEL=$dir/model
  fi
  echo "whole replica index, $items generated titles, built from the generated file (not through PostgreSQL);" \
       "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$root/build-release/bin/mg-search-bench" "$dir/titles.jsonl" "$dir/queries.txt" "$dir/replica" ${MG_BENCH_MODEL:+"$MG_BENCH_MODEL"}
  echo "restart (a new process reading the saved files); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$root/build-release/bin/mg-search-bench" "$dir/titles.jsonl" "$dir/queries.txt" "$dir/replica" ${MG_BENCH_MODEL:+"$MG_BENCH_MODEL"}
  ls -l "$dir"/replica*
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
if [ -n "$vectors_only" ]; then
  release_tool mg-hnsw-bench
  echo "vector index only, $items generated vectors of $dims dims (not through PostgreSQL);" \
       "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  MG_SEARCH_VECTOR_INDEX=${MG_SEARCH_VECTOR_INDEX:-ivf-sq8} \
    "$root/build-release/bin/mg-hnsw-bench" "$items" "$dims" "${MG_BENCH_QUERIES:-200}" "$dir/vectors.idx"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
now_ms() { date +%s%3N; }

python3 "$bench_root/bench/search_gen.py" "$bench_root/data/catalog.jsonl.gz" "$items" \
  "$tmp/catalog.jsonl" "$tmp/queries.txt"
echo "synthetic catalog: $items titles, $(wc -l <"$tmp/queries.txt") queries"

bench_start broker indexer resolver
: >"$tmp/empty.jsonl"
for _ in $(seq 1 200); do
  "$bin/mg-import" "$tmp/empty.jsonl" >/dev/null 2>&1 && break
  sleep 0.1
done
start=$(now_ms)
"$bin/mg-import" --wait "$tmp/catalog.jsonl" >"$tmp/import.out" 2>"$tmp/import.err"
load_ms=$(( $(now_ms) - start ))
echo "loaded through the pipeline in $load_ms ms ($(awk -v n="$items" -v t="$load_ms" 'BEGIN { printf "%.0f", n / (t / 1000) }') items/s)"

start=$(now_ms)
"$bin/mg-embed-train" --dims "$dims" --out "$tmp/lsa.model" 2>"$tmp/train.err" || { cat "$tmp/train.err" >&2; exit 1; }
echo "LSA-$dims model trained in $(( $(now_ms) - start )) ms"
export MG_EMBED_MODEL=$tmp/lsa.model

export MG_RATE_ENABLED=0
export MG_RATE_ANONYMOUS=1000000/s,1000000/m
export MG_SEARCH_CACHE_TTL_S=600
export MG_SEARCH_CACHE_PREFIX="bench$$:"
bench_redis
MG_LOG_LEVEL=info bench_start search
search_pid=${pids[-1]}
# The replica registers (and /ready turns 200) once its index is built:
# minutes at 100k on a shared machine, longer than bench_wait_ready waits.
for _ in $(seq 1 3600); do
  grep -q "search index loaded" "$tmp/log/search.log" && break
  kill -0 "$search_pid" 2>/dev/null || { echo "bench: mg-search exited:" >&2; tail -n 20 "$tmp/log/search.log" >&2; exit 1; }
  sleep 1
done
http_port=$(mg_free_port)
plain_port=$(mg_free_port)
export MG_HTTP_PORT=$http_port
# Every routed service answers (/ready counts them): the pipeline started
# the resolver, the replica is up.
bench_start catalog accounts ratelimit sync alerts gateway
# Uncached hybrid at 100k queues seconds of work behind 64 connections: a
# deadline (and wrk's timeout) long enough that queueing is measured, not cut.
MG_HTTP_PORT=$plain_port MG_SEARCH_CACHE_TTL_S=0 MG_REQUEST_TIMEOUT_MS=60000 "$bin/mg-gateway" 2>"$tmp/log/gateway-uncached.log" &
pids+=($!)
bench_wait_ready "$http_port" "$plain_port"
build_ms=$(sed -n 's/.*search index loaded.* took_ms=\([0-9]*\).*/\1/p' "$tmp/log/search.log" | head -n 1)
rss_kb=$(ps -o rss= -p "$search_pid" | tr -d ' ')
model_kb=$(( $(stat -c %s "$tmp/lsa.model") / 1024 ))
echo "index build (snapshot load, FTS5, vectors): ${build_ms:-?} ms; replica RSS $((rss_kb / 1024)) MiB for $items titles" \
     "(the model file, $((model_kb / 1024)) MiB, included)"

echo
echo "server took_ms over $(wc -l <"$tmp/queries.txt") queries (uncached gateway):"
printf '%-10s %8s %8s\n' mode p50 p99
for mode in ${MG_BENCH_MODES-keyword semantic hybrid}; do
  read -r p50 p99 count errors < <(python3 "$bench_root/bench/search_run.py" "127.0.0.1:$plain_port" \
                                   "$tmp/queries.txt" "mode=$mode&per_page=10")
  printf '%-10s %8s %8s   (%s answered, %s errors)\n' "$mode" "$p50" "$p99" "$count" "$errors"
done

# One query for the HTTP runs: the first of the mix, as a URL parameter.
q=$(head -n 1 "$tmp/queries.txt" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.stdin.read().strip()))')
curl -sf "http://127.0.0.1:$http_port/api/v1/search?q=$q&per_page=10" >"$tmp/reply.json"
nginx_port=$(mg_free_port)
bench_nginx "$nginx_port" "$tmp/reply.json"

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency --timeout ${wrk_timeout}, q=$(head -n 1 "$tmp/queries.txt") ($(wc -c <"$tmp/reply.json") bytes);" \
     "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s %10s %10s %8s\n' target "req/s" "p99 ms" "x nginx"
nginx_rps=
# One line per target as soon as it is measured.
measure() {
  local name=$1 url=$2 rps p99
  read -r rps p99 <<<"$(bench_wrk "$url")"
  [ -n "$nginx_rps" ] || nginx_rps=$rps
  printf '%-36s %10s %10s %8s\n' "$name" "$rps" "$p99" \
    "$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')"
}
measure "nginx, the reply as a static file" "http://127.0.0.1:$nginx_port/static.json"
measure "search, cached (hybrid)" "http://127.0.0.1:$http_port/api/v1/search?q=$q&per_page=10"
measure "search, uncached keyword" "http://127.0.0.1:$plain_port/api/v1/search?q=$q&per_page=10&mode=keyword"
measure "search, uncached hybrid" "http://127.0.0.1:$plain_port/api/v1/search?q=$q&per_page=10"
hits=$(curl -sf "http://127.0.0.1:$http_port/metrics" | sed -n 's/^mg_gateway_search_cache_total{outcome="hit"} //p')
echo "cache hits counted by the gateway: ${hits:-0}"
