#!/usr/bin/env python3
"""Run each query of QUERIES.txt once through GET /api/v1/search with extra
parameters (e.g. mode=hybrid) on one keep-alive connection, and print the
server-side took_ms p50 and p99 and the queries' count.
usage: search_run.py HOST:PORT QUERIES.txt PARAMS"""
import http.client, json, sys, urllib.parse

host, path, params = sys.argv[1], sys.argv[2], sys.argv[3]
queries = list(dict.fromkeys(line.rstrip('\n') for line in open(path, encoding='utf-8') if line.strip()))
conn = http.client.HTTPConnection(host, timeout=30)
took, errors = [], 0
for q in queries:
    conn.request('GET', '/api/v1/search?' + urllib.parse.urlencode({'q': q}) + '&' + params)
    res = conn.getresponse()
    body = res.read()
    if res.status != 200:
        errors += 1
        continue
    took.append(json.loads(body)['took_ms'])
took.sort()
pct = lambda p: took[min(len(took) - 1, int(p / 100 * len(took)))] if took else float('nan')
print(f'{pct(50):.2f} {pct(99):.2f} {len(took)} {errors}')
