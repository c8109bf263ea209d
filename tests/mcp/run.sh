#!/usr/bin/env bash
# The npm packages of the /mcp end-to-end test (tests/e2e/test_mcp.c), run by ctest:
#   run.sh setup SOURCE NODE_DIR   npm ci of package-lock.json into NODE_DIR (the build tree)
set -euo pipefail
mode=$1 source=$2 dir=$3

case $mode in
setup)
  mkdir -p "$dir"
  cp "$source"/tests/mcp/{package.json,package-lock.json,mcp-e2e.mjs} "$dir"/
  # Install again only when the lock file changed. npm install, not npm ci: the
  # conformance suite depends on lefthook, whose other platforms' binaries the
  # package mirror lacks, so the lock cannot list them and npm ci refuses it;
  # npm install takes every version from the lock all the same.
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.mg-installed-lock"; then
    (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error)
    cp "$dir/package-lock.json" "$dir/node_modules/.mg-installed-lock"
  fi
  echo "ok: npm packages in $dir";;
*)
  echo "usage: run.sh setup SOURCE DIR" >&2
  exit 2;;
esac
