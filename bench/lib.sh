# Shared by the benchmarks: a Release build, a throw-away PostgreSQL (unless
# MG_PG_URL is set), the bus endpoints, and starting actors with their logs in
# $tmp/log. Source it, then call bench_start NAME... for the processes wanted.
# shellcheck shell=bash
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/common.sh
. "$bench_root/scripts/lib/common.sh"
# shellcheck source=scripts/lib/services.sh
. "$bench_root/scripts/lib/services.sh"

build=$bench_root/build-release
# MG_BENCH_BUILD (optional): take the binaries of this existing build
# directory as they are (for measures that do not depend on speed, e.g.
# bench/sizes.sh on build-test).
if [ -n "${MG_BENCH_BUILD:-}" ]; then
  build=$MG_BENCH_BUILD
else
  cmake -S "$bench_root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  # BENCH_TARGETS (optional): build only these targets (and mg-admin, which
  # makes the run's JWT secret below, and mg-keys, which makes its bus keys).
  # shellcheck disable=SC2086
  cmake --build "$build" -j"$(nproc)" ${BENCH_TARGETS:+--target $BENCH_TARGETS mg-admin mg-keys} >/dev/null
fi
bin=$build/bin

tmp=$(mktemp -d /tmp/mg-bench.XXXXXX)
pids=()
own_pg=no
bench_cleanup_hooks=()
bench_cleanup() {
  local pid hook
  for hook in "${bench_cleanup_hooks[@]}"; do "$hook" || true; done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$own_pg" = yes ] && mg_pg_stop "$tmp"
  rm -rf "$tmp"
}
trap bench_cleanup EXIT

if [ -z "${MG_PG_URL:-}" ]; then
  pg_port=$(mg_free_port)
  mg_pg_start "$tmp" "$pg_port"
  own_pg=yes
  export MG_PG_URL="postgresql://postgres@127.0.0.1:$pg_port/mediagateway"
fi

broker_port=$(mg_free_port)
export MG_CONFIG_FILE=$bench_root/config/default.env
export MG_SQL_DIR=$bench_root/config/sql
export MG_BROKER=tcp://127.0.0.1:$broker_port
export MG_BROKER_BIND=$MG_BROKER
events_pub=$(mg_free_port)
export MG_EVENTS_PUB_BIND=tcp://127.0.0.1:$events_pub
export MG_EVENTS_PUB=tcp://127.0.0.1:$events_pub
export MG_EVENTS_SUB_BIND=tcp://127.0.0.1:$(mg_free_port)
export MG_LOG_LEVEL=warn
mkdir -p "$tmp/log"
# A JWT secret of this run's own (the gateway and accounts refuse to start without one).
if [ -z "${MG_JWT_SECRET:-}" ]; then
  "$bin/mg-admin" make-secret "$tmp/jwt_secret" >/dev/null
  export MG_JWT_SECRET_FILE=$tmp/jwt_secret
fi

# CURVE on the bus as in production: keys of this run's own (scripts/keys),
# unless MG_KEYS=off is set (plaintext).
if [ "${MG_KEYS:-}" != off ]; then
  MG_BIN=$bin "$bench_root/scripts/keys" "$tmp/keys" >/dev/null
  export MG_KEYS=$tmp/keys
fi

# bench_start NAME...: start mg-NAME for each name, logs in $tmp/log/NAME.log.
bench_start() {
  local name
  for name in "$@"; do
    "$bin/mg-$name" 2>"$tmp/log/$name.log" &
    pids+=($!)
  done
}


# shellcheck source=bench/measure.sh
. "$bench_root/bench/measure.sh"

# Every actor the gateway's routes name: /ready wants a live worker of each.
BENCH_ROUTED_ACTORS=(catalog resolver search accounts ratelimit sync alerts)

# bench_redis: a throw-away Redis unless MG_REDIS_URL is set.
bench_redis() {
  if [ -z "${MG_REDIS_URL:-}" ]; then
    bench_redis_port=$(mg_free_port)
    mg_redis_start "$tmp" "$bench_redis_port" no
    bench_stop_redis() { mg_redis_stop "$tmp" "$bench_redis_port"; }
    bench_cleanup_hooks+=(bench_stop_redis)
    export MG_REDIS_URL="redis://127.0.0.1:$bench_redis_port"
  fi
}

# bench_open_limits: settings of the benchmarks that sign users in: no
# resolver ingestion, nothing refused by the rate limit (the calls are what
# is measured, not 429s), Argon2id at 16 MiB (registering users is setup),
# and a JWT secret unless one is set.
bench_open_limits() {
  export MG_RESOLVER_INGEST=0
  export MG_RATE_ANONYMOUS=1000000/s,1000000/m
  export MG_RATE_FREE=1000000/s,1000000/m
  export MG_PWHASH_MEMLIMIT_KIB=16384
  export MG_JWT_SECRET=${MG_JWT_SECRET:-bench-secret-0123456789abcdef0123456789}
}

# bench_wait_ready PORT...: wait (BENCH_READY_S, default 20 s, at most) until each gateway's
# /ready is 200 (a search replica loading the whole catalog on a loaded machine wants more).
bench_wait_ready() {
  local port
  for port in "$@"; do
    for _ in $(seq 1 $(( ${BENCH_READY_S:-20} * 10 ))); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && break
      sleep 0.1
    done
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" != 200 ]; then
      echo "bench: the gateway on port $port did not become ready; logs:" >&2
      tail -n 20 "$tmp"/log/*.log >&2
      exit 1
    fi
  done
}


# bench_seed_titles: 1,000 titles straight into the catalog tables of
# $MG_PG_URL (20 cast, 5 crew, 3 videos, 6 genres' worth of keywords and
# offers in 10 regions each: a details answer of a few KB).
bench_seed_titles() {
  psql -q -v ON_ERROR_STOP=1 "$MG_PG_URL" <<'SQL'
  INSERT INTO content (type, title, original_title, original_language, year, release_date, overview, tagline,
                       runtime_min, status, popularity, vote_average, vote_count, poster_path, backdrop_path,
                       keywords, production_countries, spoken_languages, checksum)
  SELECT 'movie', 'Bench title ' || i, 'Bench title ' || i, 'en', 1950 + i % 70, make_date (1950 + i % 70, 1 + i % 12, 1 + i % 28),
         repeat ('A long synopsis of a film that goes on for a while. ', 8), 'A tagline.', 90 + i % 60, 'Released',
         i % 500, (i % 90) / 10.0, i * 7, '/poster' || i || '.jpg', '/backdrop' || i || '.jpg',
         ARRAY['heist', 'friendship', 'city', 'night', 'rain', 'betrayal'], ARRAY['US', 'GB'], ARRAY['en'],
         decode (md5 (i::text), 'hex')
  FROM generate_series (1, 1000) i;
  INSERT INTO content_genres SELECT c.id, g.id FROM content c CROSS JOIN LATERAL (SELECT id FROM genres ORDER BY id LIMIT 3) g;
  INSERT INTO credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department)
  SELECT c.id, 'cast', n, 'Actor Name ' || n, 1000 + n, 'Character ' || n, NULL, NULL
  FROM content c, generate_series (0, 19) n;
  INSERT INTO credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department)
  SELECT c.id, 'crew', n, 'Crew Name ' || n, 2000 + n, NULL, 'Director', 'Directing'
  FROM content c, generate_series (0, 4) n;
  INSERT INTO videos (content_id, site, key, type, name, official, published_at)
  SELECT c.id, 'youtube', md5 (c.id::text || n), 'trailer', 'Official Trailer ' || n, true, now ()
  FROM content c, generate_series (1, 3) n;
  INSERT INTO external_ids SELECT c.id, 'imdb', 'tt' || (1000000 + row_number () OVER ())::text FROM content c;
  INSERT INTO availability (content_id, platform, region, type, quality, deep_link, source)
  SELECT c.id, p, r, 'subscription', 'hd', 'https://example.com/watch/' || c.id, 'bench'
  FROM content c, unnest (ARRAY['netflix', 'max']) p,
       unnest (ARRAY['US', 'GB', 'DE', 'FR', 'JP', 'CA', 'AU', 'ES', 'IT', 'BR']) r;
SQL
}
