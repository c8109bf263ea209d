#!/usr/bin/env bash
# Throughput of POST /api/v1/me/import (docs/import.md): rows per second of a
# 2,000-row file (a queued job: more than the 1,000 rows run in the call),
# from the upload to the job's `done`. A run takes about a minute once built.
#
# Builds Release (build-release), starts a throw-away PostgreSQL (unless
# MG_PG_URL is set), mg-broker, every actor the routes name and a gateway,
# over 5,000 titles ("Bench import N", with IMDb ids). Each round signs a new
# user in and imports the same plain title,year file of MG_BENCH_ROWS rows
# (every row matches on title and year: tier 3), then imports it again (every
# row is already on the list: nothing is written). Best of the rounds.
#   MG_BENCH_ROWS    rows of the file (default 2000; at most 2,000 fit a watchlist,
#                    the rest are reported as skipped)
#   MG_BENCH_ROUNDS  rounds (default 1)
#   MG_BENCH_LARGE=1 the large run: 5,000 rows, 2 rounds (unless set above)
#   MG_BENCH_WAIT_S  an import not done after this long fails the run (default 90)
set -euo pipefail
if [ "${MG_BENCH_LARGE:-0}" = 1 ]; then
  rows=${MG_BENCH_ROWS:-5000}
  rounds=${MG_BENCH_ROUNDS:-2}
else
  rows=${MG_BENCH_ROWS:-2000}
  rounds=${MG_BENCH_ROUNDS:-1}
fi
wait_s=${MG_BENCH_WAIT_S:-90}
command -v curl >/dev/null || { echo "bench: curl is required" >&2; exit 1; }
export BENCH_TARGETS=${BENCH_TARGETS:-"mg-broker mg-gateway mg-catalog mg-resolver mg-search mg-accounts mg-ratelimit mg-sync mg-alerts mg-admin mg-keys"}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_open_limits
bench_redis
port=$(mg_free_port)
bench_start broker
# The catalog first: the resolver loads its match index at start.
"$bin/mg-catalog" 2>"$tmp/log/catalog-migrate.log" &
pids+=($!)
for _ in $(seq 1 200); do
  [ "$(psql -tA "$MG_PG_URL" -c "SELECT count(*) FROM genres" 2>/dev/null || echo 0)" = 18 ] && break
  sleep 0.1
done
psql -q -v ON_ERROR_STOP=1 "$MG_PG_URL" <<'SQL'
INSERT INTO content (id, type, title, year, popularity, checksum)
  SELECT gen_random_uuid (), 'movie', 'Bench import ' || i, 1990 + i % 30, i, '\x00'
  FROM generate_series (1, 5000) i;
INSERT INTO external_ids (content_id, source, value)
  SELECT id, 'imdb', 'tt' || (9000000 + substring (title from 14)::int) FROM content WHERE title LIKE 'Bench import %';
SQL
bench_start resolver search accounts ratelimit sync alerts
MG_HTTP_PORT=$port "$bin/mg-gateway" 2>"$tmp/log/gateway.log" &
pids+=($!)
BENCH_READY_S=${BENCH_READY_S:-60} bench_wait_ready "$port"

file=$tmp/import.csv
{ echo "title,year"; for i in $(seq 1 "$rows"); do echo "Bench import $(( (i - 1) % 5000 + 1 )),$(( 1990 + ((i - 1) % 5000 + 1) % 30 ))"; done; } >"$file"
api=http://127.0.0.1:$port/api/v1

# import AUTH: seconds from the upload to done (prints the report's counts to stderr).
import() {
  local auth=$1 start end head location status give_up
  start=$(date +%s.%N)
  give_up=$(( $(date +%s) + wait_s ))
  head=$(curl -s -D - -o "$tmp/reply.json" -X POST -H "$auth" -H 'Content-Type: text/csv' \
         --data-binary "@$file" "$api/me/import")
  location=$(printf '%s' "$head" | tr -d '\r' | sed -n 's/^Location: //Ip')
  if [ -n "$location" ]; then
    while :; do
      curl -s -o "$tmp/reply.json" -H "$auth" "http://127.0.0.1:$port$location"
      status=$(sed -E 's/.*"status":"([a-z]+)".*/\1/' "$tmp/reply.json")
      [ "$status" = done ] || [ "$status" = failed ] && break
      if [ "$(date +%s)" -gt "$give_up" ]; then
        echo "bench: the import at $location was not done after ${wait_s} s" >&2
        exit 1
      fi
      sleep 0.05
    done
  fi
  end=$(date +%s.%N)
  sed -E 's/.*("matched":[0-9]+,"ambiguous":[0-9]+,"unmatched":[0-9]+,"added":[0-9]+,"watched":[0-9]+,"unchanged":[0-9]+).*/\1/' \
    "$tmp/reply.json" >&2
  echo "$end - $start" | bc -l
}

best_first=0 best_again=0
for round in $(seq 1 "$rounds"); do
  body="{\"email\":\"bench-import-$round-$$@example.com\",\"password\":\"bench-password-1\"}"
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "$api/auth/register"
  token=$(curl -sf -X POST -H 'Content-Type: application/json' -d "$body" "$api/auth/login" |
          sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  auth="Authorization: Bearer $token"
  first=$(import "$auth")
  again=$(import "$auth")
  rate_first=$(echo "$rows / $first" | bc -l)
  rate_again=$(echo "$rows / $again" | bc -l)
  printf 'round %d: first import %.2f s (%.0f rows/s), again %.2f s (%.0f rows/s)\n' \
    "$round" "$first" "$rate_first" "$again" "$rate_again"
  best_first=$(echo "if ($rate_first > $best_first) $rate_first else $best_first" | bc -l)
  best_again=$(echo "if ($rate_again > $best_again) $rate_again else $best_again" | bc -l)
done
printf 'import of %d rows: best %.0f rows/s (first import), %.0f rows/s (the same file again)\n' \
  "$rows" "$best_first" "$best_again"
