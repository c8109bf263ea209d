# Private PostgreSQL 15 and Redis 7 instances in a folder of ours, on ports of ours.
# shellcheck shell=bash

MG_PG_BIN=/usr/lib/postgresql/15/bin

# Run a command as the unprivileged owner of the data (postgres refuses root).
mg_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Let the postgres user reach DIR: every parent must be traversable.
mg_pg_traversable() {
  local d
  d=$(readlink -f "$1")
  while [ "$d" != "/" ]; do
    chmod o+x "$d" 2>/dev/null || true
    d=$(dirname "$d")
  done
}

# mg_pg_start DIR PORT: init (once) and start PostgreSQL with data in DIR/pg,
# trusting local connections only, and create the database mediagateway.
mg_pg_start() {
  local dir=$1 port=$2 data=$1/pg log=$1/log/postgres.log
  mkdir -p "$dir/log" "$dir/run"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir/run"
    touch "$log"; chown postgres:postgres "$log"
    mg_pg_traversable "$dir"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data"
    mg_as_pg "$MG_PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
CONF
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$data/pg_hba.conf"
  fi
  if ! mg_as_pg "$MG_PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    mg_as_pg "$MG_PG_BIN/pg_ctl" -D "$data" -l "$log" -o "-p $port" -w -t 60 start >/dev/null
  fi
  local i
  for i in $(seq 1 100); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
  done
  psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'mediagateway'" | grep -q 1 ||
    psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE mediagateway" >/dev/null
}

# mg_pg_stop DIR
mg_pg_stop() {
  local data=$1/pg
  [ -f "$data/PG_VERSION" ] || return 0
  mg_as_pg "$MG_PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# mg_redis_start DIR PORT [persist]: Redis with its files in DIR/redis.
mg_redis_start() {
  local dir=$1 port=$2 persist=${3:-yes}
  mkdir -p "$dir/redis" "$dir/log"
  local conf=$dir/redis/redis.conf
  {
    echo "bind 127.0.0.1"
    echo "port $port"
    echo "protected-mode yes"
    echo "dir $dir/redis"
    echo "daemonize yes"
    echo "pidfile $dir/redis/redis.pid"
    echo "logfile $dir/log/redis.log"
    if [ "$persist" = yes ]; then echo "appendonly yes"; echo "appendfsync everysec"; else echo 'save ""'; echo "appendonly no"; fi
  } >"$conf"
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    redis-server "$conf"
  fi
  local i
  for i in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "redis did not start on port $port (see $dir/log/redis.log)" >&2
  return 1
}

# mg_redis_stop DIR PORT
mg_redis_stop() {
  redis-cli -p "$2" shutdown nosave >/dev/null 2>&1 || true
}

# A TCP port on 127.0.0.1 that nobody listens on now.
mg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
