# Measuring helpers shared by every benchmark: wrk runs and an nginx
# reference. Needs $tmp (a scratch folder), $threads, $connections,
# $seconds, and a bench_cleanup_hooks array whose hooks run at exit.
# shellcheck shell=bash

# bench_wrk_stats URL [WRK ARGS...]: one warm-up second, then the measured run
# with $threads, $connections and $seconds (and wrk's --timeout $wrk_timeout
# when set), extra arguments passed on (e.g. -s script.lua -- args); prints
# "rps p50_ms p99_ms non2xx".
bench_wrk_stats() {
  local url=$1 out
  shift
  wrk -t"$threads" -c"$connections" -d1s ${wrk_timeout:+--timeout "$wrk_timeout"} "$url" "$@" >/dev/null
  out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency ${wrk_timeout:+--timeout "$wrk_timeout"} "$url" "$@")
  awk '
    function ms(v,   unit) { unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
                            if (unit == "us") return v / 1000; if (unit == "s") return v * 1000; return v }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, bad + 0 }' <<<"$out"
}

# bench_wrk URL [WRK ARGS...]: as bench_wrk_stats, but prints "rps p99_ms" and
# fails on any non-2xx answer.
bench_wrk() {
  local rps p50 p99 bad
  read -r rps p50 p99 bad <<<"$(bench_wrk_stats "$@")"
  if [ "$bad" -ne 0 ]; then
    echo "bench: $1 answered $bad errors" >&2
    exit 1
  fi
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

# bench_measure NAME URL [PATHS FILE]: one bench_wrk_stats run on URL (spread
# over the paths listed in FILE when given), kept in bench_rows as "NAME|stats".
bench_rows=()
bench_measure() {
  local name=$1 url=$2 file=${3:-} stats
  if [ -n "$file" ]; then
    stats=$(bench_wrk_stats "$url" -s "$(dirname "${BASH_SOURCE[0]}")/paths.lua" -- "$file")
  else
    stats=$(bench_wrk_stats "$url")
  fi
  bench_rows+=("$name|$stats")
}

# bench_print_rows: bench_rows as a table; "x nginx" divides by the first row.
bench_print_rows() {
  local nginx_rps row name stats rps p50 p99 bad
  read -r nginx_rps _ <<<"${bench_rows[0]#*|}"
  printf '%-28s %10s %9s %9s %8s %8s\n' target "req/s" "p50 ms" "p99 ms" "x nginx" "non-2xx"
  for row in "${bench_rows[@]}"; do
    IFS='|' read -r name stats <<<"$row"
    read -r rps p50 p99 bad <<<"$stats"
    printf '%-28s %10s %9s %9s %8s %8s\n' "$name" "$rps" "$p50" "$p99" \
      "$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')" "$bad"
  done
}
