#!/usr/bin/env python3
"""Run every query of a search-dev folder through GET /api/v1/search and write
set<TAB>query<TAB>top-10 TMDB ids (eval_search.py's input) to stdout; latency
figures (server took_ms and client round trip) go to stderr.
usage: relevance_run.py GATEWAY_URL QUERY_DIR [extra query string, e.g. mode=keyword]"""
import csv, json, os, sys, time, urllib.parse, urllib.request, urllib.error

base, qdir = sys.argv[1], sys.argv[2]
extra = sys.argv[3] if len(sys.argv) > 3 else ''
def rows(name):
    path = os.path.join(qdir, name)
    if not os.path.exists(path): return []
    return list(csv.DictReader(open(path, newline=''), delimiter='\t', quoting=csv.QUOTE_NONE))
jobs = [('title-' + r['kind'], r['query']) for r in rows('title-queries.tsv')]
jobs += [('tagline', r['query']) for r in rows('tagline-queries.tsv')]
jobs += [('concept', r['query']) for r in rows('concept-queries.tsv')]
for name in ('original-title', 'typo2', 'person', 'person-known'):
    jobs += [(name, r['query']) for r in rows(name + '-queries.tsv')]
took, wall, errors = [], [], 0
for kind, q in jobs:
    url = base + '/api/v1/search?' + urllib.parse.urlencode({'q': q, 'per_page': 10}) + ('&' + extra if extra else '')
    t0 = time.perf_counter()
    try:
        body = json.load(urllib.request.urlopen(url, timeout=10))
    except urllib.error.HTTPError as e:
        errors += 1
        print(f'{kind}\t{q}\t'); sys.stderr.write(f'HTTP {e.code} for {q!r}: {e.read()[:200]!r}\n'); continue
    wall.append((time.perf_counter() - t0) * 1000)
    took.append(body['took_ms'])
    ids = [str(r['external_ids'].get('tmdb', '')) for r in body['results']]
    print(f'{kind}\t{q}\t{",".join(i for i in ids if i)}')
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float('nan')
sys.stderr.write(f'{len(jobs)} queries, {errors} errors; server took_ms p50 {pct(took, 50):.2f} p99 {pct(took, 99):.2f}; '
                 f'HTTP round trip p50 {pct(wall, 50):.2f} ms p99 {pct(wall, 99):.2f} ms\n')
