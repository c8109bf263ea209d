# Debian packages the project needs, and an installer that adds only the missing ones.
# shellcheck shell=bash

MG_PACKAGES=(
  build-essential cmake pkg-config git curl python3
  libzmq3-dev libczmq-dev libmsgpack-dev libprotobuf-c-dev protobuf-c-compiler
  libcurl4-openssl-dev libpq-dev postgresql-15 libhiredis-dev redis-server
  libevent-dev libjansson-dev libutf8proc-dev libsqlite3-dev libfaiss-dev
  libopenblas-dev liblapacke-dev libsodium-dev libcmocka-dev zlib1g-dev libcsv-dev
  wrk nginx-light s6 clang libclang-rt-14-dev
  nodejs npm
)

# Install whatever of MG_PACKAGES is missing (apt-get as root, sudo otherwise).
mg_install_deps() {
  local missing=() p
  for p in "${MG_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
    # A nodejs from NodeSource carries npm and conflicts with Debian's npm package.
    [ "$p" = npm ] && command -v npm >/dev/null && continue
    missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
