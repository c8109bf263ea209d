# Shared by the scripts: repository root, configuration defaults.
# shellcheck shell=bash
MG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Value of KEY from the environment, else config/default.env, else $2.
mg_conf() {
  local key=$1 fallback=${2:-} v
  v=${!key:-}
  if [ -z "$v" ]; then
    v=$(sed -n "s/^$key=//p" "$MG_ROOT/config/default.env" | tail -1)
  fi
  echo "${v:-$fallback}"
}

# Build the programs a stack runs in DIR (default build/): Release, without
# the test programs (a fresh machine builds them in a fraction of the time).
# scripts/run and bench/stack.sh start what this builds.
mg_build_programs() {
  local dir=${1:-$MG_ROOT/build}
  cmake -S "$MG_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DMG_TESTS=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)" >/dev/null
}
