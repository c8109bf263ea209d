#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a bounded time on
# a copy of its checked-in seed corpus. Exit non-zero on any crash or leak.
#   MG_FUZZ_SECONDS  seconds per target (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${MG_FUZZ_BUILD:-$root/build-fuzz}
seconds=${MG_FUZZ_SECONDS:-30}
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DMG_FUZZ=ON >/dev/null
targets=$(cd "$root/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build "$build" -j2 --target $targets >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in $targets; do
  mkdir -p "$work/$t"
  cp "$root/tests/fuzz/corpus/$t"/* "$work/$t/" 2>/dev/null || true
  echo "fuzz: $t for ${seconds}s"
  if ! "$build/bin/$t" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$t-" "$work/$t" >"$work/$t.log" 2>&1; then
    echo "fuzz: $t FAILED"; tail -40 "$work/$t.log"; status=1
  else
    grep -E 'stat::number_of_executed_units|Done' "$work/$t.log" | tail -2
  fi
done
[ $status -eq 0 ] && echo "fuzz: all targets ran with 0 crashes"
exit $status
