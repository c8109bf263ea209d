#!/usr/bin/env bash
# Provider simulator throughput with per-call latency, as bench/ingest.sh
# --providers uses it: mg-provider-sim (Release) answers TMDB details with
# append_to_response=credits,videos,external_ids,recommendations under wrk.
#   1. latency 0        - the simulator's own ceiling on this box
#   2. latency 20 ms    - every answer waits its 20 ms on a timer
# The reference for run 2, measured in the same run, is the lower of run 1
# and the concurrency bound connections / latency (no server can beat it);
# the ratio says how much of it the simulator keeps.
#   MG_BENCH_SECONDS      seconds per measured run (default 10)
#   MG_BENCH_CONNECTIONS  connections (default 128)
#   MG_BENCH_THREADS      wrk threads (default 2)
#   MG_BENCH_LATENCY_MS   latency of run 2 (default 20)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-10}
connections=${MG_BENCH_CONNECTIONS:-128}
threads=${MG_BENCH_THREADS:-2}
latency=${MG_BENCH_LATENCY_MS:-20}
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-release
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target mg-provider-sim >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$build/bin/mg-provider-sim" --port "$port" --catalog "$root/data/catalog.jsonl.gz" 2>/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -sf -o /dev/null "$base/_sim/stats" && break; sleep 0.1; done
url="$base/tmdb/3/movie/19995?api_key=bench&append_to_response=credits,videos,external_ids,recommendations"

# run URL: one warm-up second, then the measured run; prints "rps p99_ms".
run() {
  local out
  wrk -t"$threads" -c"$connections" -d1s "$1" >/dev/null
  out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$1")
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: errors: $out" >&2; exit 1; fi
  awk '/^Requests\/sec:/ { rps = $2 }
       $1 == "99%" { v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
                     if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; p99 = v }
       END { printf "%.0f %.2f\n", rps, p99 }' <<<"$out"
}

curl -sf -X POST -d '{"ms":0}' "$base/_sim/latency" >/dev/null
read -r rps0 p990 < <(run "$url")
curl -sf -X POST -d "{\"ms\":$latency}" "$base/_sim/latency" >/dev/null
read -r rps1 p991 < <(run "$url")
bound=$(( connections * 1000 / latency ))
reference=$(( rps0 < bound ? rps0 : bound ))
printf '%-34s %10s %10s\n' "target ($connections connections)" "req/s" "p99 ms"
printf '%-34s %10s %10s\n' "latency 0" "$rps0" "$p990"
printf '%-34s %10s %10s\n' "latency ${latency} ms" "$rps1" "$p991"
printf 'bound connections/latency: %d req/s; reference min(run 1, bound): %d req/s\n' "$bound" "$reference"
awk -v a="$rps1" -v b="$reference" 'BEGIN { printf "ratio latency %s ms / reference: %.2f\n", "'"$latency"'", a / b }'
