#!/usr/bin/env bash
# Overload: GET /api/v1/genres at the sustainable concurrency, then at 10x it
# for MG_BENCH_OVERLOAD_SECONDS, with the gateway's in-flight bound
# (MG_HTTP_MAX_IN_FLIGHT per thread) in force. Prints requests/s, the share
# answered 503, latency, the peak resident memory of the gateway, the broker
# and the catalog (sampled every 0.5 s), and how long after the overload
# stopped a request was served 200 again. During each run a probe
# (bench/overload_probe.c, mg-overload-probe) asks one request every 50 ms,
# each on a new connection (as a client retrying would), times it from its
# own socket calls and reports the latency of the answers it got, by status:
# how quickly excess requests hear 503, split into the gateway's share (the
# request sent to the answer's arrival in the probe's kernel) and the probe's
# (that arrival to its read returning). Beside it, the gateway's own timing of
# the connections its refuser answered (docs/gateway.md, "Overload"): from the
# request's arrival in the kernel to the 503 written, p50/p99 from the
# /metrics histograms over the run (interpolated within buckets), its wake-ups
# per refused connection, and the load.
#   MG_BENCH_SECONDS           the sustainable run (default 5)
#   MG_BENCH_OVERLOAD_SECONDS  the overload run (default 30)
#   MG_BENCH_CONNECTIONS       sustainable connections (default 64); overload: 10x
#   MG_HTTP_MAX_IN_FLIGHT      per gateway thread (default here 64)
#   MG_BENCH_BUILD             the stack's binaries (bench/lib.sh); the probe
#                              always comes from this tree's build-release
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
# The probe from this tree, whichever build the stack comes from (so that
# main and a branch are measured by the same probe).
probe_build=$bench_root/build-release
if [ ! -x "$probe_build/bin/mg-overload-probe" ]; then
  cmake -S "$bench_root" -B "$probe_build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$probe_build" --target mg-overload-probe >/dev/null
fi
pid_of() { pgrep -f "^$bin/mg-$1\$" | head -1; }
gateway=$(pid_of gateway) broker=$(pid_of broker) catalog=$(pid_of catalog)

# One request every 50 ms until $tmp/stop-sampling exists: lines
# "status total connect server wake by" (ms; see bench/overload_probe.c) into $1.
probe() {
  "$probe_build/bin/mg-overload-probe" "$http_port" /api/v1/genres 50 "$tmp/stop-sampling" >"$1"
}

# "n=N p50=X ms p99=Y ms" of column $3 (default 2: total) of the probe lines
# in $1 whose status ($1) or who answered ($6) is $2.
probe_stats() {
  awk -v s="$2" -v c="${3:-2}" '$1 == s || $6 == s { print $c }' "$1" | sort -n | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "n=0"; exit }
          i50 = int((NR + 1) / 2)
          i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR
          printf "n=%d p50=%.2f ms p99=%.2f ms", NR, v[i50], v[i99] }'
}

# The refuser's counters and histograms from /metrics, for refuser_stats.
metrics_snapshot() {
  curl -s "http://127.0.0.1:$http_port/metrics" | grep -E '^mg_gateway_(refuser_|refused_at_accept)' >"$1" || true
}

# Histogram $3 over the run, snapshot $2 minus snapshot $1: "bound cumulative"
# lines, in the order /metrics prints them (the last bound is +Inf).
histogram_delta() {
  awk -v name="$3_bucket" '
    FNR == 1 { file++ }
    index($1, name "{le=\"") == 1 {
      le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
      if (file == 1) before[le] = $2; else { after[le] = $2; order[++k] = le } }
    END { for (i = 1; i <= k; i++) print order[i], after[order[i]] - before[order[i]] }' "$1" "$2"
}

# "p50=X ms p99=Y ms (n=N)" of histogram $3 over the run (snapshots $1, $2),
# the quantile interpolated within its bucket.
histogram_stats() {
  histogram_delta "$@" | awk '
    { ub[++k] = $1; c[k] = $2 }
    END {
      total = c[k]
      if (total <= 0) { print "n=0"; exit }
      split("0.5 0.99", qs, " ")
      out = ""
      for (j = 1; j <= 2; j++) {
        rank = qs[j] * total
        for (i = 1; i <= k && c[i] < rank; i++) ;
        lo = i > 1 ? ub[i - 1] : 0; below = i > 1 ? c[i - 1] : 0
        if (ub[i] == "+Inf") v = lo
        else v = lo + (ub[i] - lo) * (rank - below) / (c[i] - below)
        out = out sprintf("%s=%.2f ms ", j == 1 ? "p50" : "p99", v * 1000)
      }
      printf "%s(n=%d)", out, total }'
}

# Histogram $3 over the run (snapshots $1, $2), per bucket: "<=bound:count ...".
histogram_buckets() {
  histogram_delta "$@" | awk '
    { if ($2 > prev) printf "%s%s:%d", (n++ ? " " : ""), $1 == "+Inf" ? ">1s" : "<=" $1 * 1000 "ms", $2 - prev
      prev = $2 }'
}

# The refuser thread's /proc schedstat: "ns on a CPU, ns runnable waiting
# for one, times run" (0 0 0 without a thread named mg-refuser).
refuser_schedstat() {
  local t
  for t in /proc/"$gateway"/task/*; do
    if [ "$(cat "$t/comm" 2>/dev/null)" = mg-refuser ]; then cat "$t/schedstat"; return; fi
  done
  echo 0 0 0
}

# Counter $3 in snapshot $2 minus snapshot $1.
counter_delta() {
  awk -v name="$3" '$1 == name { v[FILENAME] = $2 } END { printf "%d", v[ARGV[2]] - v[ARGV[1]] }' "$1" "$2"
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
  metrics_snapshot "$tmp/metrics-$phase-before"
  sched_before=$(refuser_schedstat)
  probe "$tmp/probe-$phase" &
  prober=$!
  if [ "$phase" = sustainable ]; then c=$connections s=$seconds; else c=$((connections * 10)) s=$overload_seconds; fi
  read -r rps p50 p99 bad <<<"$(connections=$c seconds=$s bench_wrk_stats "$url")"
  touch "$tmp/stop-sampling"
  wait "$sampler" "$prober"
  metrics_snapshot "$tmp/metrics-$phase-after"
  sched_after=$(refuser_schedstat)
  # Recovery: from the end of the load to the first 200.
  t0=$(date +%s%N)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; do sleep 0.01; done
  recovered_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  read -r g b k <"$tmp/rss-$phase"
  printf '%-26s %9s %9s %9s %9s %11s %11s %11s\n' "$phase (-c$c, ${s}s)" "$rps" "$bad" "$p50" "$p99" "$g" "$b" "$k"
  echo "  served 200 again ${recovered_ms} ms after the load stopped"
  echo "  probe: 200 $(probe_stats "$tmp/probe-$phase" 200); 503 $(probe_stats "$tmp/probe-$phase" 503)"
  echo "  probe 503s by who answered: refuser $(probe_stats "$tmp/probe-$phase" refuser); loop $(probe_stats "$tmp/probe-$phase" loop)"
  echo "  probe 503s split: gateway's share (sent to answer arrived) $(probe_stats "$tmp/probe-$phase" 503 4);" \
       "probe's own wake-up (arrived to read) $(probe_stats "$tmp/probe-$phase" 503 5)"
  before=$tmp/metrics-$phase-before after=$tmp/metrics-$phase-after
  if grep -q '^mg_gateway_refuser_answer_seconds' "$after"; then
    refused=$(counter_delta "$before" "$after" mg_gateway_refused_at_accept_total)
    wakes=$(counter_delta "$before" "$after" mg_gateway_refuser_wakeups_total)
    echo "  refuser (gateway's own timing, request arrival to 503 written): $(histogram_stats "$before" "$after" mg_gateway_refuser_answer_seconds);" \
         "of which arrival to accept $(histogram_stats "$before" "$after" mg_gateway_refuser_wait_seconds)"
    echo "  refuser arrival to 503 written, by bucket: $(histogram_buckets "$before" "$after" mg_gateway_refuser_answer_seconds)"
    echo "  refused $refused connections in $wakes wake-ups$( [ "$refused" -gt 0 ] && awk -v w="$wakes" -v r="$refused" 'BEGIN { printf " (%.2f per connection)", w / r }')"
    read -r cpu0 wait0 runs0 <<<"$sched_before"
    read -r cpu1 wait1 runs1 <<<"$sched_after"
    awk -v c=$((cpu1 - cpu0)) -v w=$((wait1 - wait0)) -v r=$((runs1 - runs0)) -v n="$refused" 'BEGIN {
      if (r > 0) printf "  refuser thread: %.0f ms on a CPU (%.1f us per refused connection), %.0f ms runnable waiting for one, over %d runs (%.1f us per run)\n",
                        c / 1e6, (n > 0 ? c / 1e3 / n : 0), w / 1e6, r, w / 1e3 / r }'
  else
    echo "  refuser timings: none (this build has no mg_gateway_refuser_* metrics)"
  fi
  if [ "$phase" = overload ]; then
    server_overload=$(histogram_stats "$before" "$after" mg_gateway_refuser_answer_seconds)
  fi
  echo "  $(uptime | sed 's/.*load/load/')"
done

# The in-run reference: the probe's 200s at the sustainable load.
probe_p50() { probe_stats "$1" "$2" | sed -n 's/.*p50=\([0-9.]*\) ms.*/\1/p'; }
ref=$(probe_p50 "$tmp/probe-sustainable" 200)
got=$(probe_p50 "$tmp/probe-overload" 503)
if [ -n "$ref" ] && [ -n "$got" ]; then
  awk -v a="$got" -v b="$ref" 'BEGIN { printf "probe p50, a 503 under overload / a 200 at the sustainable load: %.1f / %.1f ms = %.2f\n", a, b, a / b }'
fi
# The same run seen from both ends: the probe's 503s and the refuser's own timing.
probe_q() { probe_stats "$1" 503 | sed -n "s/.*$2=\([0-9.]*\) ms.*/\1/p"; }
server_q() { sed -n "s/.*$1=\([0-9.]*\) ms.*/\1/p" <<<"$server_overload"; }
for q in p50 p99; do
  a=$(probe_q "$tmp/probe-overload" $q) b=$(server_q $q)
  if [ -n "$a" ] && [ -n "$b" ]; then
    awk -v q=$q -v a="$a" -v b="$b" 'BEGIN { printf "overload %s: probe 503 %.1f ms, refuser (server side) %.1f ms, probe / server %.1f\n", q, a, b, (b > 0 ? a / b : 0) }'
  fi
done
