#!/usr/bin/env python3
"""Write a synthetic catalog of N titles (JSON lines in the importer's TMDB
shape) drawn from the vocabulary of the bundled catalog, and a query mix
drawn from the synthetic titles (never from a relevance set).
usage: search_gen.py CATALOG.jsonl.gz N OUT.jsonl QUERIES.txt [SEED]
Titles: 1-4 words of the sample's title words; overview: 2-3 of its
overview sentences; tagline, keywords (3-8), genres (1-3), cast (5, with
characters), year, popularity, rating and 0-4 offers taken from random
sample titles. Queries (one per line): whole titles, title prefixes, titles
with one typo, one or two keywords, and two overview words."""
import gzip, json, random, re, sys

src, n, out_path, queries_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 6)
sample = [json.loads(line) for line in gzip.open(src, 'rt', encoding='utf-8')]
title_words = [w for r in sample for w in re.findall(r"[^\W_]+", r['title']) if len(w) > 1]
sentences = [s.strip() for r in sample for s in re.split(r'(?<=[.!?])\s+', r.get('overview') or '') if len(s.strip()) > 20]
taglines = [r['tagline'] for r in sample if r.get('tagline')]
keywords = sorted({k for r in sample for k in r.get('keywords') or []})
genres = [g for r in sample for g in r.get('genres') or []]
cast = [c for r in sample for c in (r.get('credits') or {}).get('cast') or []]
offer_lists = [r.get('availability') or [] for r in sample]

queries = []
with open(out_path, 'w', encoding='utf-8') as out:
    for i in range(n):
        title = ' '.join(rng.choice(title_words).capitalize() for _ in range(rng.randint(1, 4)))
        year = rng.randint(1920, 2024)
        kws = rng.sample(keywords, rng.randint(3, 8))
        overview = ' '.join(rng.sample(sentences, rng.randint(2, 3)))
        gs = {g['id']: g for g in rng.sample(genres, rng.randint(1, 3))}
        rec = {
            'source': 'tmdb', 'type': 'movie', 'id': 50_000_000 + i, 'title': title, 'original_title': title,
            'original_language': 'en', 'overview': overview, 'tagline': rng.choice(taglines),
            'release_date': f'{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}',
            'popularity': round(rng.paretovariate(1.5), 3), 'vote_average': round(rng.uniform(3, 9), 1),
            'vote_count': rng.randint(0, 5000), 'genres': list(gs.values()), 'keywords': kws,
            'credits': {'cast': [dict(c, order=k) for k, c in enumerate(rng.sample(cast, 5))]},
            'availability': rng.choice(offer_lists)[:rng.randint(0, 4)],
        }
        out.write(json.dumps(rec, ensure_ascii=False) + '\n')
        if rng.random() < 0.02:
            kind = rng.randrange(5)
            words = title.lower().split()
            if kind == 0:
                q = title
            elif kind == 1:
                q = title[:max(3, int(len(title) * rng.uniform(0.4, 0.8)))]
            elif kind == 2:
                w = max(words, key=len)
                if len(w) >= 5:
                    p = rng.randrange(1, len(w) - 1)
                    w2 = w[:p] + w[p + 1:]
                    q = ' '.join(w2 if x == w else x for x in words)
                else:
                    q = title
            elif kind == 3:
                q = ' '.join(rng.sample(kws, rng.randint(1, 2)))
            else:
                ws = [w for w in re.findall(r'[a-z]+', overview.lower()) if len(w) > 4]
                q = ' '.join(rng.sample(ws, 2)) if len(ws) >= 2 else title
            queries.append(q)
with open(queries_path, 'w', encoding='utf-8') as qf:
    for q in queries:
        qf.write(q + '\n')
