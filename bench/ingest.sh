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
#
# bench/ingest.sh --providers: the live provider path instead. The provider
# simulator (every answer MG_BENCH_LATENCY_MS late, default 20 ms, quotas
# off) serves the bundled catalog; mg-fetcher walks TMDB's popular list
# (MG_BENCH_PAGES pages of 20, default all) and fetches each title's details
# and availability, then resolver and indexer apply them. Prints items/s end
# to end (goal 1,000/s), provider calls per item, and the cache hit rate of
# a second pass (every answer still fresh in the Redis response cache).
# Redis: a throw-away one unless MG_REDIS_URL is set (then it must be empty).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --providers ]; then
  bench_redis
  sim_port=$(mg_free_port)
  "$bin/mg-provider-sim" --port "$sim_port" --catalog "$bench_root/data/catalog.jsonl.gz" \
    --latency-ms "${MG_BENCH_LATENCY_MS:-20}" --quota sa=0 --quota watchmode=0 --quota youtube=0 \
    2>"$tmp/log/sim.log" &
  pids+=($!)
  sim=http://127.0.0.1:$sim_port
  export MG_TMDB_BASE_URL=$sim/tmdb/3 MG_SA_BASE_URL=$sim/sa
  export MG_WATCHMODE_BASE_URL=$sim/watchmode/v1 MG_YOUTUBE_BASE_URL=$sim/youtube/v3
  export TMDB_API_KEY=bench SA_API_KEY=bench WATCHMODE_API_KEY=bench YOUTUBE_API_KEYS=bench
  # The simulator has no quotas here, so neither has the fetcher.
  export MG_FETCHER_SCHEDULE=0 MG_FETCHER_TMDB_PER_S=0 MG_FETCHER_SA_PER_MIN=0
  export MG_FETCHER_WATCHMODE_PER_DAY=0 MG_FETCHER_YOUTUBE_UNITS_PER_DAY=0
  export MG_FETCHER_CONCURRENCY=${MG_BENCH_CONCURRENCY:-256}
  bench_start broker indexer resolver fetcher
  # The simulator answers once its catalog is loaded; the fetcher once registered.
  for _ in $(seq 1 300); do
    curl -fsS "$sim/_sim/stats" >/dev/null 2>&1 && break
    sleep 0.1
  done
  for _ in $(seq 1 300); do
    "$bin/mg-fetcher-cli" replay --max 1 >/dev/null 2>&1 && break
    sleep 0.1
  done
  # pass NAME: one refresh of the popular list, then wait until the pipeline
  # has applied every queued record; prints "titles calls cache_hits seconds".
  pass() {
    local start out end
    start=$(date +%s.%N)
    out=$("$bin/mg-fetcher-cli" refresh popular --pages "${MG_BENCH_PAGES:-500}")
    for _ in $(seq 1 6000); do
      [ "$(psql "$MG_PG_URL" -Atc "SELECT count(*) FROM ingest_jobs WHERE state IN ('queued', 'running')")" = 0 ] && break
      sleep 0.05
    done
    end=$(date +%s.%N)
    echo "$out" >"$tmp/$1.out"
    awk -v s="$start" -v e="$end" '{
        for (i = 1; i <= NF; i++) { split ($i, kv, "="); v [kv[1]] = kv[2] }
        printf "%d %d %d %.3f %.3f\n", v["titles"], v["calls"], v["cache_hits"], e - s, v["took_ms"] / 1000 }' "$tmp/$1.out"
  }
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  read -r titles calls hits secs fetch < <(pass first)
  awk -v t="$titles" -v c="$calls" -v s="$secs" -v f="$fetch" -v l="${MG_BENCH_LATENCY_MS:-20}" 'BEGIN {
      printf "providers, first pass:  %d titles in %.2f s end to end: %.0f items/s (%.2f x the 1,000 items/s goal), simulator latency %d ms\n", t, s, t / s, t / s / 1000, l
      printf "  fetcher stage alone (list pages, calls, enqueue): %.2f s, %.0f items/s\n", f, (f > 0 ? t / f : 0)
      printf "  provider calls per item: %.2f (%d calls)\n", c / t, c }'
  read -r titles calls hits secs fetch < <(pass again)
  awk -v t="$titles" -v c="$calls" -v h="$hits" -v s="$secs" -v f="$fetch" 'BEGIN {
      printf "providers, second pass: %d titles in %.2f s end to end: %.0f items/s (fetcher stage %.2f s)\n", t, s, t / s, f
      printf "  cache hit rate: %.1f %% (%d answers from the cache, %d provider calls)\n", 100 * h / (h + c > 0 ? h + c : 1), h, c }'
  exit 0
fi

shared=${MG_SHARED_DIR:-$bench_root/../shared}
if [ ! -f "$shared/data/movielens-small/movies.csv" ] || [ ! -f "$shared/tools/eval_resolve.py" ]; then
  echo "bench: $shared/data/movielens-small and $shared/tools are needed (set MG_SHARED_DIR)" >&2
  exit 1
fi
bench_start broker indexer resolver
broker_pid=${pids[${#pids[@]}-3]} indexer_pid=${pids[${#pids[@]}-2]} resolver_pid=${pids[${#pids[@]}-1]}

# cpu_seconds: CPU time (user + system) so far of PostgreSQL (the server, its
# live backends and those that ended), mg-indexer, mg-resolver and mg-broker,
# as "postgres indexer resolver broker". On a shared machine wall time moves with the
# neighbours' load; the CPU a step costs moves much less.
cpu_seconds() {
  local pg_pid hz
  hz=$(getconf CLK_TCK)
  # The server's pid is the checkpointer's parent (PostgreSQL may run on another host's data dir).
  pg_pid=$(psql "$MG_PG_URL" -Atc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" | xargs -r ps -o ppid= -p | tr -d ' ')
  # cat skips processes that end meanwhile; awk would stop at the first.
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v hz="$hz" -v pg="$pg_pid" -v ix="$indexer_pid" -v rs="$resolver_pid" -v bk="$broker_pid" '
    {
      pid = $1; line = $0; sub (/^.*\) /, "", line); split (line, f, " ")
      own = (f[12] + f[13]) / hz
      if (pid == pg) sum["pg"] += own + (f[14] + f[15]) / hz
      else if (f[2] == pg) sum["pg"] += own
      else if (pid == ix) sum["ix"] += own
      else if (pid == rs) sum["rs"] += own
      else if (pid == bk) sum["bk"] += own
    }
    END { printf "%.2f %.2f %.2f %.2f\n", sum["pg"], sum["ix"], sum["rs"], sum["bk"] }'
}

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
read -r pg0 ix0 rs0 bk0 < <(cpu_seconds)
first=$(import first "$bench_root/data/catalog.jsonl.gz")
read -r pg1 ix1 rs1 bk1 < <(cpu_seconds)
echo "bundled catalog, first import:   $first items/s  ($(awk -v a="$first" 'BEGIN { printf "%.2f", a / 1000 }') x the 1,000 items/s goal)"
grep "pipeline:" "$tmp/first.err" | sed 's/^mg-import: /  /'
items=$(gzip -dc "$bench_root/data/catalog.jsonl.gz" | wc -l)
awk -v a="$pg0" -v b="$pg1" -v c="$ix0" -v d="$ix1" -v e="$rs0" -v f="$rs1" -v g="$bk0" -v h="$bk1" -v n="$items" 'BEGIN {
    printf "  CPU seconds: postgres %.2f, mg-indexer %.2f, mg-resolver %.2f, mg-broker %.2f\n", b - a, d - c, f - e, h - g
    k = n / 1000
    printf "  per 1,000 items: postgres %.2f, mg-indexer %.2f, mg-resolver %.2f, mg-broker %.2f\n", (b - a) / k, (d - c) / k, (f - e) / k, (h - g) / k }'
# What the first import wrote, with what differs between runs left out
# (generated ids, times, sequence numbers, the content checksum, which covers
# the entity's generated id): two builds of the apply path that
# write the same rows print the same digest. Deadlocks: batches applied side
# by side that the server aborted (and the indexer applied again).
psql "$MG_PG_URL" -Atc "
  WITH k AS (SELECT content_id, min (source || ':' || source_id) AS key FROM content_sources GROUP BY 1),
  r AS (
    SELECT 'content ' || k.key || ' ' || (to_jsonb (x) - '{id,checksum,created_at,updated_at}'::text[])::text AS line
      FROM content x JOIN k ON k.content_id = x.id
    UNION ALL SELECT 'source ' || k.key || ' ' || (to_jsonb (x) - '{content_id,created_at,updated_at,fetched_at}'::text[])::text
      FROM content_sources x JOIN k USING (content_id)
    UNION ALL SELECT 'genre ' || k.key || ' ' || x.genre_id FROM content_genres x JOIN k USING (content_id)
    UNION ALL SELECT 'id ' || k.key || ' ' || (to_jsonb (x) - 'content_id')::text FROM external_ids x JOIN k USING (content_id)
    UNION ALL SELECT 'title ' || k.key || ' ' || (to_jsonb (x) - 'content_id')::text FROM content_titles x JOIN k USING (content_id)
    UNION ALL SELECT 'credit ' || k.key || ' ' || (to_jsonb (x) - '{id,content_id}'::text[])::text FROM credits x JOIN k USING (content_id)
    UNION ALL SELECT 'video ' || k.key || ' ' || (to_jsonb (x) - '{id,content_id}'::text[])::text FROM videos x JOIN k USING (content_id)
    UNION ALL SELECT 'offer ' || k.key || ' ' || (to_jsonb (x) - '{id,content_id,updated_at}'::text[])::text
      FROM availability x JOIN k USING (content_id)
    UNION ALL SELECT 'person ' || (to_jsonb (x) - '{id,created_at,updated_at}'::text[])::text FROM people x
    UNION ALL SELECT 'events ' || stream || ' ' || count (*) || ' ' || max (seq) FROM change_log GROUP BY stream
    UNION ALL SELECT 'jobs ' || state || ' ' || count (*) FROM ingest_jobs GROUP BY state)
  SELECT '  rows: ' || sum (n) || ', digest ' || md5 (string_agg (d, ',' ORDER BY kind))
         || ', deadlocks ' || (SELECT deadlocks FROM pg_stat_database WHERE datname = current_database ())
         || E'\n  by table: ' || string_agg (kind || ' ' || left (d, 8), ', ' ORDER BY kind)
  FROM (SELECT split_part (line, ' ', 1) AS kind, count (*) AS n, md5 (string_agg (line, E'\n' ORDER BY line)) AS d
        FROM r GROUP BY 1) t"
# MG_BENCH_FIRST_ONLY=1: stop here (comparing builds of the apply path).
[ "${MG_BENCH_FIRST_ONLY:-0}" = 1 ] && exit 0
again=$(import again "$bench_root/data/catalog.jsonl.gz")
echo "bundled catalog, again:          $again items/s"
grep "pipeline:" "$tmp/again.err" | sed 's/^mg-import: /  /'

"$bin/mg-resolve" "$shared/data/movielens-small/movies.csv" >"$tmp/pred.csv" 2>"$tmp/resolve.err"
echo "MovieLens through resolver.resolve (title, year, genres), scored on links-dev.csv:"
python3 "$shared/tools/eval_resolve.py" "$tmp/pred.csv" | sed 's/^/  /'
ml=$(import movielens "$shared/data/movielens-small")
echo "MovieLens small imported on top: $ml items/s"
grep "pipeline:" "$tmp/movielens.err" | sed 's/^mg-import: /  /'
