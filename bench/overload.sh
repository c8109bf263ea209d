#!/usr/bin/env bash
# Overload: GET /api/v1/genres at the sustainable concurrency, then at 10x it
# for MG_BENCH_OVERLOAD_SECONDS, with the gateway's in-flight bound
# (MG_HTTP_MAX_IN_FLIGHT per thread) in force. Prints requests/s, the share
# answered 503, latency, the peak resident memory of the gateway, the broker
# and the catalog (sampled every 0.5 s), and how long after the overload
# stopped a request was served 200 again. During each run a probe asks one
# request at a time (a new connection each, as a client retrying would) and
# reports the latency of the answers it got, by status: how quickly excess
# requests hear 503. Each run ends with the count of connections the
# gateway's refuser answered (docs/gateway.md, "Overload") and the load.
#   MG_BENCH_SECONDS           the sustainable run (default 5)
#   MG_BENCH_OVERLOAD_SECONDS  the overload run (default 30)
#   MG_BENCH_CONNECTIONS       sustainable connections (default 64); overload: 10x
#   MG_HTTP_MAX_IN_FLIGHT      per gateway thread (default here 64)
set -euo pipefail
seconds=${MG_BENCH_SECONDS:-5}
overload_seconds=${MG_BENCH_OVERLOAD_SECONDS:-30}
connections=${MG_BENCH_CONNECTIONS:-64}
threads=2
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
export MG_RESOLVER_INGEST=0 MG_RATE_ENABLED=0 MG_RATE_ANONYMOUS=1000000/s,1000000/m
# Every request through the bus (not the gateway's memory of reference
# answers): the in-flight bound counts requests waiting on the bus.
export MG_REFERENCE_CACHE_S=0
export MG_HTTP_MAX_IN_FLIGHT=${MG_HTTP_MAX_IN_FLIGHT:-64}
http_port=$(mg_free_port)
export MG_HTTP_PORT=$http_port
bench_redis
bench_start broker "${BENCH_ROUTED_ACTORS[@]}" gateway
bench_wait_ready "$http_port"
url=http://127.0.0.1:$http_port/api/v1/genres
pid_of() { pgrep -f "^$bin/mg-$1\$" | head -1; }
gateway=$(pid_of gateway) broker=$(pid_of broker) catalog=$(pid_of catalog)

# One request every 50 ms until $tmp/stop-sampling exists: "status seconds"
# lines into $1, and for a 503 "refuser" or "loop" (which answered it: the
# refuser's message names the bound, the loop's the count) into $1.by.
probe() {
  : >"$1"
  : >"$1.by"
  local line
  while [ ! -f "$tmp/stop-sampling" ]; do
    line=$(curl -s -o "$1.body" -m 5 -w '%{http_code} %{time_total}' "$url" || true)
    echo "$line" >>"$1"
    case $line in
      503\ *) if grep -q 'at its in-flight bound' "$1.body"; then echo "refuser ${line#* }"; else echo "loop ${line#* }"; fi >>"$1.by" ;;
    esac
    sleep 0.05
  done
}

# "n=N p50=X ms p99=Y ms" of the probe lines in $1 with status $2.
probe_stats() {
  awk -v s="$2" '$1 == s { print $2 * 1000 }' "$1" | sort -n | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "n=0"; exit }
          i50 = int((NR + 1) / 2)
          i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
          printf "n=%d p50=%.1f ms p99=%.1f ms", NR, v[i50], v[i99] }'
}

# Peak VmRSS (KiB) of the three processes while $1 runs.
sample_rss() {
  local out=$1 g=0 b=0 c=0 v p
  while [ ! -f "$tmp/stop-sampling" ]; do
    for p in gateway broker catalog; do
      v=$(awk '/^VmRSS:/ { print $2 }' "/proc/${!p}/status" 2>/dev/null || echo 0)
      case $p in gateway) [ "$v" -gt "$g" ] && g=$v ;; broker) [ "$v" -gt "$b" ] && b=$v ;;
                  catalog) [ "$v" -gt "$c" ] && c=$v ;; esac
    done
    sleep 0.5
  done
  echo "$g $b $c" >"$out"
}

echo "wrk -t$threads; $(nproc) cores; MG_HTTP_MAX_IN_FLIGHT=$MG_HTTP_MAX_IN_FLIGHT per thread, 2 threads"
printf '%-26s %9s %9s %9s %9s %11s %11s %11s\n' run "req/s" "non-2xx" "p50 ms" "p99 ms" "gw KiB" "broker KiB" "catalog KiB"
for phase in sustainable overload; do
  rm -f "$tmp/stop-sampling"
  sample_rss "$tmp/rss-$phase" &
  sampler=$!
  probe "$tmp/probe-$phase" &
  prober=$!
  if [ "$phase" = sustainable ]; then c=$connections s=$seconds; else c=$((connections * 10)) s=$overload_seconds; fi
  read -r rps p50 p99 bad <<<"$(connections=$c seconds=$s bench_wrk_stats "$url")"
  touch "$tmp/stop-sampling"
  wait "$sampler" "$prober"
  # Recovery: from the end of the load to the first 200.
  t0=$(date +%s%N)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; do sleep 0.01; done
  recovered_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  read -r g b k <"$tmp/rss-$phase"
  printf '%-26s %9s %9s %9s %9s %11s %11s %11s\n' "$phase (-c$c, ${s}s)" "$rps" "$bad" "$p50" "$p99" "$g" "$b" "$k"
  echo "  served 200 again ${recovered_ms} ms after the load stopped"
  echo "  probe: 200 $(probe_stats "$tmp/probe-$phase" 200); 503 $(probe_stats "$tmp/probe-$phase" 503)"
  echo "  probe 503s by who answered: refuser $(probe_stats "$tmp/probe-$phase.by" refuser); loop $(probe_stats "$tmp/probe-$phase.by" loop)"
  refused=$(curl -s "http://127.0.0.1:$http_port/metrics" | awk '$1 == "mg_gateway_refused_at_accept_total" { print $2 }')
  echo "  new connections answered 503 by the refuser so far: ${refused:-none (no refuser)}; $(uptime | sed 's/.*load/load/')"
done

# The in-run reference: the probe's 200s at the sustainable load.
probe_p50() { probe_stats "$1" "$2" | sed -n 's/.*p50=\([0-9.]*\) ms.*/\1/p'; }
ref=$(probe_p50 "$tmp/probe-sustainable" 200)
got=$(probe_p50 "$tmp/probe-overload" 503)
if [ -n "$ref" ] && [ -n "$got" ]; then
  awk -v a="$got" -v b="$ref" 'BEGIN { printf "probe p50, a 503 under overload / a 200 at the sustainable load: %.1f / %.1f ms = %.2f\n", a, b, a / b }'
fi
