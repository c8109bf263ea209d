#!/usr/bin/env bash
# Checks of docs/openapi.yaml, run by ctest (tests/CMakeLists.txt):
#   run.sh drift    SOURCE BIN        the committed file is what mg-openapi prints now
#   run.sh setup    SOURCE NODE_DIR   npm ci of package-lock.json into NODE_DIR (the build tree)
#   run.sh document SOURCE NODE_DIR BUILD_DOCS
#                                     valid OpenAPI 3.1, YAML = JSON, examples fit; a client
#                                     typechecked against openapi-typescript's types
set -euo pipefail
mode=$1 source=$2 dir=$3

case $mode in
drift)
  generated=$(mktemp)
  trap 'rm -f "$generated"' EXIT
  "$dir/mg-openapi" --out "$generated"
  if ! diff -u "$source/docs/openapi.yaml" "$generated"; then
    echo "docs/openapi.yaml differs from the route table and schema (diff above: - committed, + generated)." >&2
    echo "Regenerate it: cmake --build build && build/bin/mg-openapi --out docs/openapi.yaml" >&2
    exit 1
  fi
  echo "ok: docs/openapi.yaml is what mg-openapi generates";;
setup)
  mkdir -p "$dir"
  cp "$source"/tests/openapi/{package.json,package-lock.json,lib.mjs,validate-doc.mjs,validate-responses.mjs,client.ts,tsconfig.json} "$dir"/
  # npm ci again only when the lock file changed.
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.mg-installed-lock"; then
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    cp "$dir/package-lock.json" "$dir/node_modules/.mg-installed-lock"
  fi
  echo "ok: npm packages in $dir";;
document)
  docs=$4
  node "$dir/validate-doc.mjs" "$source/docs/openapi.yaml" "$docs/openapi.json"
  "$dir/node_modules/.bin/openapi-typescript" "$source/docs/openapi.yaml" -o "$dir/api.d.ts" --silent
  "$dir/node_modules/.bin/tsc" -p "$dir/tsconfig.json"
  echo "ok: client.ts typechecks against the types generated from docs/openapi.yaml";;
*)
  echo "usage: run.sh drift|setup|document SOURCE DIR [BUILD_DOCS]" >&2
  exit 2;;
esac
