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
cmake -S "$bench_root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
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

# bench_start NAME...: start mg-NAME for each name, logs in $tmp/log/NAME.log.
bench_start() {
  local name
  for name in "$@"; do
    "$bin/mg-$name" 2>"$tmp/log/$name.log" &
    pids+=($!)
  done
}


# Every actor the gateway's routes name: /ready wants a live worker of each.
BENCH_ROUTED_ACTORS=(catalog resolver search accounts ratelimit sync)

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

# bench_wait_ready PORT...: wait (20 s at most) until each gateway's /ready is 200.
bench_wait_ready() {
  local port
  for port in "$@"; do
    for _ in $(seq 1 200); do
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

# bench_wrk URL: one warm-up second, then the measured run with $threads,
# $connections and $seconds (and wrk's --timeout $wrk_timeout when set);
# prints "rps p99_ms". Any non-2xx answer fails.
bench_wrk() {
  local url=$1 out
  wrk -t"$threads" -c"$connections" -d1s ${wrk_timeout:+--timeout "$wrk_timeout"} "$url" >/dev/null
  out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency ${wrk_timeout:+--timeout "$wrk_timeout"} "$url")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "bench: $url answered errors:" >&2
    echo "$out" >&2
    exit 1
  fi
  local rps p99
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" {
      v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
      if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000;
      printf "%.2f", v }' <<<"$out")
  echo "$rps $p99"
}

# bench_nginx PORT FILE: nginx (2 workers, no access log, keep-alive) on PORT
# serving FILE as /static.json; stopped at exit.
bench_nginx() {
  local port=$1 file=$2
  mkdir -p "$tmp/nginx/www" "$tmp/nginx/temp"
  cp "$file" "$tmp/nginx/www/static.json"
  # nginx workers run unprivileged: let them read the file (mktemp made tmp 0700).
  chmod 755 "$tmp" "$tmp/nginx" "$tmp/nginx/www"
  chmod 644 "$tmp/nginx/www/static.json"
  cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  default_type application/json;
  client_body_temp_path $tmp/nginx/temp/body;
  proxy_temp_path $tmp/nginx/temp/proxy;
  fastcgi_temp_path $tmp/nginx/temp/fastcgi;
  uwsgi_temp_path $tmp/nginx/temp/uwsgi;
  scgi_temp_path $tmp/nginx/temp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $tmp/nginx/www;
  }
}
CONF
  bench_stop_nginx() {
    if [ -f "$tmp/nginx/nginx.pid" ]; then kill -QUIT "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null; fi
  }
  bench_cleanup_hooks+=(bench_stop_nginx)
  nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
  for _ in $(seq 1 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/static.json" && break
    sleep 0.1
  done
}
