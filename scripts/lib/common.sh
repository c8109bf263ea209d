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
