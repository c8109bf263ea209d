# Medians of mg-alerts' per-title timings (its debug lines "title handled",
# each followed by "availability changes handled") over the titles whose
# notifications numbered `users` (awk -v users=N), in ms after the bench sent
# the change: awk -f alerts_trace.awk BENCH_OUTPUT ALERTS_LOG, the bench's
# output holding its "round start_us=" lines (MG_BENCH_TRACE=1; the same
# monotonic clock as the log's woke_us). Used by bench/alerts.sh.
function field(name,    i, kv) {
  for (i = 1; i <= NF; i++) {
    split($i, kv, "=")
    if (kv[1] == name) return kv[2]
  }
  return ""
}
function median(a, n,    i, j, t) {
  for (i = 2; i <= n; i++)
    for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
  return n ? a[int((n + 1) / 2)] : 0
}
/^round start_us=/ { split($2, kv, "="); starts[++rounds] = kv[2] + 0; next }
/msg="title handled"/ {
  pending = 0
  made = 0; first = 0; last = 0; published = 0
  k = split(field("shares"), share, ",")
  for (i = 1; i <= k; i++) {
    split(share[i], part, ":")          # share:notifications:answered_ms:published_ms
    made += part[2]
    if (i == 1) first = part[3] + 0
    last = part[3] + 0
    published = part[4] + 0
  }
  woke = field("woke_us") + 0
  sent = 0
  for (i = 1; i <= rounds; i++) if (starts[i] <= woke) sent = starts[i]
  if (made == users && sent) {
    pending = 1
    w = (woke - sent) / 1000
    begun = w + field("begun_ms"); read = w + field("read_ms")
    first += w; last += w; published += w
  }
  next
}
/msg="availability changes handled"/ && pending {
  n++
  W[n] = w
  B[n] = begun + 0; R[n] = read + 0; F[n] = first; L[n] = last; P[n] = published
  C[n] = w + field("committed_ms")
  pending = 0
}
END {
  if (!n) { print "trace: no title with " users " notifications"; exit }
  printf "trace (%d changes, median ms after the change was sent): event read %.1f, transaction begun %.1f, " \
         "change_log read %.1f, first share answered %.1f, last share answered %.1f, all events published %.1f, " \
         "cursor committed %.1f\n",
         n, median(W, n), median(B, n), median(R, n), median(F, n), median(L, n), median(P, n), median(C, n)
}
