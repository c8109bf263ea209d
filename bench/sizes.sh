#!/usr/bin/env bash
# Bytes of a page of 20 results (the JSON body a client downloads, without
# compression) for several queries: by default (one region's offers,
# architecture §4) against offers_region=all (every region), then where the
# bytes of the default pages go, field by field (platform groups' and
# offers' fields apart).
#
# With MG_SIZES_URL (e.g. http://127.0.0.1:8080, scripts/run's gateway) it
# reads that stack; without it, it starts one of its own (bench/lib.sh: a
# throw-away PostgreSQL and Redis, every routed actor, one gateway) and loads
# the sample catalog (data/catalog.jsonl.gz) through the pipeline first.
#   MG_SIZES_URL   base URL of a running gateway
#   MG_SIZES_AUTH  optional "Authorization: Bearer ..." header: sizes as a signed-in caller
#   MG_BENCH_BUILD an existing build directory to take the binaries from (sizes do not
#                  depend on the build type; default: a Release build in build-release)
set -euo pipefail
command -v curl >/dev/null || { echo "sizes: curl is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "sizes: python3 is required" >&2; exit 1; }
if [ -n "${MG_SIZES_URL:-}" ]; then
  url=$MG_SIZES_URL
  tmp=$(mktemp -d /tmp/mg-sizes.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
else
  # shellcheck source=bench/lib.sh
  . "$(dirname "$0")/lib.sh"
  export MG_RATE_ANONYMOUS=1000000/s,1000000/m MG_SEARCH_CACHE_TTL_S=0
  bench_redis
  bench_start broker indexer resolver
  : >"$tmp/empty.jsonl"
  for _ in $(seq 1 300); do
    "$bin/mg-import" "$tmp/empty.jsonl" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$bin/mg-import" --wait "$bench_root/data/catalog.jsonl.gz" >"$tmp/import.out" 2>"$tmp/import.err" || {
    tail -n 20 "$tmp/import.err" >&2
    exit 1
  }
  bench_start catalog search accounts ratelimit sync alerts
  http_port=$(mg_free_port)
  MG_HTTP_PORT=$http_port bench_start gateway
  BENCH_READY_S=${BENCH_READY_S:-120} bench_wait_ready "$http_port"
  url=http://127.0.0.1:$http_port
fi

paths=(
  "/api/v1/search?q=love&per_page=20"
  "/api/v1/search?q=matrix&per_page=20"
  "/api/v1/search?q=war&per_page=20"
  "/api/v1/search?q=space+adventure&per_page=20"
  "/api/v1/search?per_page=20"
  "/api/v1/trending?per_page=20"
  "/api/v1/discover?per_page=20"
)
auth=()
[ -n "${MG_SIZES_AUTH:-}" ] && auth=(-H "$MG_SIZES_AUTH")
printf '%-45s %10s %10s\n' "page (per_page=20)" "default" "all"
i=0
for path in "${paths[@]}"; do
  i=$((i + 1))
  for shape in default all; do
    target=$url$path
    [ "$shape" = all ] && target="$target&offers_region=all"
    # A loaded machine may miss a deadline (504): sizes, not speed, are measured here.
    for _ in 1 2 3 4 5; do
      code=$(curl -s "${auth[@]}" -o "$tmp/$shape.$i.json" -w '%{http_code}' "$target")
      [ "$code" = 200 ] && break
      sleep 1
    done
    [ "$code" = 200 ] || { echo "sizes: GET $path ($shape): $code" >&2; exit 1; }
  done
  printf '%-45s %10d %10d\n' "$path" "$(stat -c %s "$tmp/default.$i.json")" "$(stat -c %s "$tmp/all.$i.json")"
done

echo
echo "bytes of the default pages above by item field (\"key\":value, as sent):"
python3 - "$tmp"/default.*.json <<'PY'
import collections, json, sys
fields, groups, offers = collections.Counter(), collections.Counter(), collections.Counter()
total = items = ngroups = noffers = 0
def size(key, value):
    return len(json.dumps(key)) + 1 + len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        body = f.read()
    total += len(body)
    for item in json.loads(body)["results"]:
        items += 1
        for key, value in item.items():
            fields[key] += size(key, value)
            if key == "availability":
                # Platform groups {platform, region?, deep_link?, offers: [...]}.
                for group in value:
                    ngroups += 1
                    for k, v in group.items():
                        if k != "offers":
                            groups[k] += size(k, v)
                    for offer in group.get("offers", []):
                        noffers += 1
                        for k, v in offer.items():
                            offers[k] += size(k, v)
print(f"{items} items, {ngroups} platform groups, {noffers} offers, {total} bytes in all")
for key, n in fields.most_common():
    print(f"  {key:24s} {n:8d}  {100 * n / total:5.1f} %")
print("platform groups' fields (offers apart):")
for key, n in groups.most_common():
    print(f"  {key:24s} {n:8d}  {100 * n / total:5.1f} %")
print("offers' fields:")
for key, n in offers.most_common():
    print(f"  {key:24s} {n:8d}  {100 * n / total:5.1f} %")
PY
