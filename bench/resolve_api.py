#!/usr/bin/env python3
"""Resolve MovieLens movies.csv through POST /api/v1/resolve, the way a user
sends an export: title and year split at the last parenthesis, genres as
given ('|'-separated), nothing else cleaned. Writes movieId,tmdbId for every
linked movie to stdout (../shared/tools/eval_resolve.py's input).
usage: resolve_api.py GATEWAY_URL MOVIES_CSV [BEARER_TOKEN]"""
import csv, json, sys, urllib.request

base, movies = sys.argv[1], sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else ''
BATCH = 1000  # the API's limit per request


def record(title):
    """Split "Title (Year)" at the last parenthesis; the rest is sent as is."""
    cut = title.rstrip().rfind('(')
    year = title[cut + 1:].strip().rstrip(')').strip() if cut > 0 else ''
    if cut > 0 and year.isdigit() and len(year) == 4:
        return {'title': title[:cut].strip(), 'year': int(year)}
    return {'title': title.strip()}


rows = list(csv.DictReader(open(movies, newline='')))
print('movieId,tmdbId')
for at in range(0, len(rows), BATCH):
    batch = rows[at:at + BATCH]
    records = []
    for r in batch:
        rec = record(r['title'])
        if r['genres']:
            rec['genres'] = r['genres'].split('|')
        records.append(rec)
    req = urllib.request.Request(base + '/api/v1/resolve', data=json.dumps({'records': records}).encode(),
                                 headers={'Content-Type': 'application/json'}, method='POST')
    if token:
        req.add_header('Authorization', 'Bearer ' + token)
    body = json.load(urllib.request.urlopen(req, timeout=60))
    for r, res in zip(batch, body['results']):
        if res and res.get('tmdb_id'):
            print(f"{r['movieId']},{res['tmdb_id']}")
