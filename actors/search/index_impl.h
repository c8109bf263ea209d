/*  The in-memory search index (SQLite + FTS5) and its ranking: what the
    index's modules share (private to actors/search).

    index.c          the index's life: schema, statements, put/remove, vocabulary
    index_plan.c     query parsing: words, typo candidates, match expressions, filters
    index_rank.c     keyword retrieval and ranking
    index_fuse.c     the semantic side, its fusion with the keyword side, similar titles
    index_facets.c   facets and result items
    index_suggest.c  autocomplete
    index_people.c   people: type=person searches, person suggestions

    Retrieval: each query word becomes a group "word OR typo candidates
    (OR word* for the last word)"; the groups are ANDed, as Meilisearch and
    Typesense do: an AND is both more precise and far cheaper than an OR,
    because FTS5 scores every match and has no top-k pruning. When fewer
    than DROP_THRESHOLD titles match all words, titles matching any word
    are added after them (drop_tokens).

    Ranking of the matches: field-weighted BM25 (title highest), normalised
    by the best BM25 of the query, plus a title similarity (mg_text.c) that
    rewards a title the query spells out, plus a small popularity prior that
    breaks near-ties towards the title people mean (remakes, sequels).  */
#ifndef SEARCH_INDEX_IMPL_H_INCLUDED
#define SEARCH_INDEX_IMPL_H_INCLUDED

#include "index.h"
#include "mg_text.h"
#include "vocab.h"
#include "mg_lsa.h"
#include "hnsw.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <zlib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  BM25 weights of the FTS5 columns: title, alt (original and other
//  titles), tagline, keywords, overview, cast (billed, in order), crew
//  (directors), companies: people and studios are fields of their own,
//  not overview text.
#define W_TITLE      10.0
#define W_ALT         6.0
#define W_TAGLINE     4.0
#define W_KEYWORDS    5.0
#define W_OVERVIEW    1.0
#define W_CAST        2.0
#define W_CREW        2.0
#define W_COMPANIES   3.0      //  production companies ("pixar", "studio ghibli")
//  People: a query naming a person (every word of a billed cast member's or
//  a director's name, in order, among the query's words) ranks first the
//  films that person carries, by how central they are and how popular the
//  film is: PERSON_WEIGHT x centrality x (1 + PERSON_POP x the film's
//  log-scaled popularity, 0-1), so a lead in a little-known film stays above
//  a small part in a blockbuster. Centrality: a director, or a lead (billed in the first
//  PERSON_LEADS), 1 falling by 0.1 a place; a supporting part
//  PERSON_SUPPORT x PERSON_LEADS / (billing place + 1), falling with billing.
//  A one-word name (a stage name) counts only as the whole query.
#define PERSON_WEIGHT  1.0
#define PERSON_LEADS   3
#define PERSON_SUPPORT 0.4
#define PERSON_POP     0.5
#define PERSON_WORDS   8       //  words of a name compared; longer names are not matched
#define TITLE_START   0.3      //  title similarity bonus when the query is the title's start (typed from it)
#define TITLE_WEIGHT  1.0      //  title similarity (0-1.5) against BM25 normalised to 0-1
#define POP_WEIGHT    0.1      //  popularity prior, log-scaled to 0-1
#define DROP_THRESHOLD 20      //  fewer AND matches than this -> add OR matches after them
#define RERANK_MAX    400      //  best-BM25 matches of each tier given the title similarity
#define CANDIDATES_MAX 6       //  typo candidates per query word
#define TYPO_SKIP_DOCS 40      //  a word this many titles hold is a word, not a typo
#define LONG_QUERY_WORDS 4     //  longer queries look for typos in unknown words only
#define GENRES_MAX    64       //  canonical genre slugs remembered (a uint64_t mask per title)
#define PLATFORMS_MAX 1024     //  distinct platform slugs remembered
#define OFFERS_MAX    256      //  offers kept per title (the loader's limit)
#define MATCH_MAX     (64 * 1024)  //  bytes of an FTS5 match expression
#define MATCH_PHRASES_MAX 256      //  phrases given their row counts (index_idf_bind); more: counted by FTS5
#define GROUP_MAX     1024     //  bytes of one word's group (word, CANDIDATES_MAX candidates, prefix)
//  The OR fallback (drop_tokens) costs one BM25 per posting it reads: its
//  words go in rarest first while their postings (documents per word, the
//  vocabulary's counts) stay within this bound, the rarest always. Common
//  words ("the", "of", "who") then cost nothing, and the words that can
//  still tell titles apart carry the fallback.
#define OR_POSTINGS_MAX 1500
//  Bounded work on broad words: a relevance query of the first pages
//  scores (BM25, the costly part: every match's position lists) at most
//  KEYWORD_TOP matches of the AND, and as many whose own titles hold the
//  words. Rowids are given in descending popularity at a snapshot load
//  (load.c), and FTS5 walks matches in rowid order, so stopping there keeps
//  the most popular matches: a pre-ranked posting order with early
//  termination. The rest are only counted (rowids, no BM25), up to
//  SEARCH_TOTAL_MAX. 1,000: well above RERANK_MAX, so the rerank still
//  chooses among many, and ~1-2 ms of BM25 on this platform.
#define KEYWORD_TOP   1000
//  Semantic side: the best SEMANTIC_TOP vector neighbours with a cosine of
//  at least SEMANTIC_MIN (weaker ones are noise: an LSA cosine of two
//  unrelated titles is ~0.0-0.15), fused with the keyword ranking by
//  weighted reciprocal ranks (RRF, k = 60).
#define SEMANTIC_TOP   100
#define SEMANTIC_MIN   0.2
#define RRF_K          60.0
//  The vector index: FAISS HNSW, inner product on unit vectors. M = 32
//  links per node and efConstruction = 80 give recall@10 ~ 1.0 at 100k x
//  768 with efSearch = 64 at ~1 ms a query (a flat scan: ~46 ms); a search
//  explores at least as many candidates as it wants results.
#define HNSW_M               32
#define HNSW_EF_CONSTRUCTION 80
#define HNSW_EF_SEARCH       64
//  HNSW cannot delete: a changed title's old vector stays as a dead slot
//  until dead slots outnumber both this and the live ones, then the graph
//  is rebuilt from the live vectors.
#define HNSW_DEAD_MIN        1024
//  similar: neighbours fetched, and the weight of genre overlap (Jaccard of
//  the genre sets) added to the cosine.
#define SIMILAR_TOP          100
#define SIMILAR_GENRE_WEIGHT 0.25
//  A title the query spells out (title similarity at least this: the
//  query's words are most of one of its titles) keeps its keyword place
//  above fused results, whichever tier found it: a typed title is an
//  answer, not a topic. So does a title that holds every query word (*The
//  Matrix Reloaded* for "matrix") when it follows such a title at the head
//  of the keyword ranking, above a hit kept in place (a tag of *Dark
//  City*): the title field outranks the others, as Meilisearch's attribute
//  rule has it, and fusion does not turn that order around.
#define TITLE_TYPED    0.75

//  Fused score of guarded keyword hits (above any RRF score, which is < 1).
#define GUARD_SCORE    2.0
//  Exactness (Meilisearch's rule of that name, per field): the query is one
//  of the title's tags word for word (a keyword: tags are names, a query
//  naming one is asking for what carries it), or a phrase of 3 or more
//  words found word for word in its tagline (a quoted line). Below the
//  0.5 of a title typed word for word, so a typed title stays first.
#define TAG_EXACT      0.8
#define TAG_PHRASE     0.0     //  the query is a phrase inside a longer tag
#define TAGLINE_PHRASE 1.0
#define PHRASE_WORDS   3       //  words a tagline phrase needs
#define TAGLINE_SHARE  0.67    //  ... and the share of the tagline's words it covers


//  One offer of a title: platform (index into platforms), region, expiry.
typedef struct {
    uint16_t platform;
    char region [3];
    int64_t expires;           //  Unix seconds, 0 = never
} index_offer_t;

//  What filters, facets, sorts and the title similarity need of a title,
//  in memory by rowid: no SQL per match.
typedef struct {
    bool live, tv, has_rating;
    int year;                  //  0 = unknown
    double popularity, rating;
    char release [12];
    uint64_t genres;           //  bit i: genres [i]
    char *titles;              //  normalised titles, one per line
    int64_t slot;              //  HNSW slot + 1 of its unit vector, 0: none
    char *tags;                //  normalised keywords (tags), one per line
    char *companies;           //  normalised production companies, one per line
    char *tagline;             //  normalised tagline
    char *cast;                //  normalised billed cast, one per line, in billing order
    char *crew;                //  normalised directors, one per line
    index_offer_t *offers;
    size_t offers_count;
} index_doc_t;

//  A slot of a vector index read from file and the title it is the vector
//  of (the map saved beside the index).
typedef struct {
    char id [40];
    int64_t slot;
} index_slot_id_t;

//  Statements kept prepared for the life of the index, one set per lane:
//  lane 0 is the writer's (puts, removes, loads; and a caller that never
//  enters a lane), each query takes another for its duration, so queries
//  on several threads never share a statement. The one connection is
//  opened serialized (SQLITE_OPEN_FULLMUTEX): each step holds its mutex,
//  the C work between steps (filters, rerank, fusion, items) runs in
//  parallel. INDEX_LANES - 1 queries at once; more wait for a lane.
#define INDEX_LANES   17
typedef enum {
    ST_ROWID, ST_DOC_INSERT, ST_FTS_DELETE, ST_FTS_INSERT, ST_DOC_DELETE, ST_MATCH, ST_ITEM,
    ST_SUGGEST, ST_VOCAB, ST_VOCAB_TEXT, ST_VOCAB_COMPANIES, ST_PERSON_ROWID, ST_PERSON_PUT,
    ST_PERSON_FTS_DELETE, ST_PERSON_FTS_INSERT, ST_PERSON_MATCH, ST_PERSON_ALL, ST_PERSON_ITEM, ST_MATCH_ROWID, ST_SLOT_IDS, ST_MATCH_COUNT, ST_COUNT
} index_stmt_id_t;

//  The phases of a query whose time is counted (index_phase_add): the plan
//  (words, typo candidates), each FTS5 statement of the keyword side, the
//  rerank, the second pass (its own plan and statements included), the
//  semantic side (a hybrid query's: its time past the keyword side, the
//  wait for its thread or the side run on the query's own when that
//  thread had not started; the semantic side's own steps: the start of
//  its thread when it ran there, the query's embedding, the vector walk
//  and, of it, the walks the index starved: their whole time, as runs the
//  further searches and exact scans, as rows the vectors compared by an
//  exact scan),
//  the fusion (the two
//  rankings joined and the union sorted), the page's result items,
//  autocomplete's statements. The semantic side's own steps overlap the
//  keyword side's in a hybrid query: phases add up to more than its time.
typedef enum {
    PHASE_PLAN, PHASE_AND, PHASE_TITLED, PHASE_COMPANY, PHASE_REST, PHASE_OR, PHASE_RANK, PHASE_SECOND,
    PHASE_SEMANTIC, PHASE_SIDE_START, PHASE_EMBED, PHASE_VECTORS, PHASE_STARVED, PHASE_FUSE, PHASE_ITEMS, PHASE_SUGGEST,
    PHASE_COUNT
} index_phase_t;

extern const char *index_phase_names [PHASE_COUNT];

//  A snapshot load's vector side on a thread of its own (index_pipe.c).
typedef struct index_pipe_t index_pipe_t;

//  Row counts of the phrases matched (index_bm25.c), kept between queries.
typedef struct index_idf_t index_idf_t;

struct search_index_t {
    sqlite3 *db;
    const mg_lsa_t *lsa;   //  borrowed
    uint32_t dims;
    sqlite3_stmt *stmts [INDEX_LANES][ST_COUNT];
    pthread_mutex_t lanes_lock;    //  guards lanes_busy
    pthread_cond_t lanes_free;     //  signalled when a lane is left
    uint32_t lanes_busy;           //  bit i: lane i taken by a query (bit 0 unused)
    bool sides_inline;             //  hybrid: the semantic side on the query's thread (tests)
    search_vocab_t *vocab;         //  every word, documents holding it in any field
    search_vocab_t *text_vocab;    //  words of every field but the companies: typo candidates
    search_vocab_t *company_vocab; //  words of the companies field (names: not expanded)
    bool vocab_dirty;
    index_idf_t *idf;              //  phrases' row counts for mg_bm25 (), cleared with the vocabulary
    mg_text_typo_t typo;
    search_hnsw_t *hnsw;       //  the titles' vectors, NULL without an embedder
    int64_t *slot_rowid;       //  by HNSW slot: the title's rowid, 0 once dead
    size_t slots_room, dead;
    double pop_max;
    char *genres [GENRES_MAX];
    size_t genres_count;
    char *platforms [PLATFORMS_MAX];
    size_t platforms_count;
    index_doc_t *docs;             //  by rowid (rowids are reused: a put of a known id keeps its rowid)
    size_t docs_room;
    int64_t next_rowid;
    double person_pop_max;     //  highest popularity of a person held
    size_t people;             //  people held
    size_t count;              //  live titles
    atomic_size_t scored;      //  matches the last query scored (BM25; queries may run at once)
    //  Time (ns), runs and rows (matches stepped, hits, items) of each
    //  phase, summed over every query since the index was made: where a
    //  query's time goes (mg-search-bench prints them).
    atomic_uint_fast64_t phase_ns [PHASE_COUNT], phase_runs [PHASE_COUNT], phase_rows [PHASE_COUNT];
    index_slot_id_t *read_slots;   //  a vector index read from file: its slots by title id (sorted)
    size_t read_count, read_claimed;
    bool read_clash;           //  a title claimed a slot already claimed
    z_stream *zpack;           //  result items are stored deflated (index.c), this stream kept
    z_stream *zunpack;         //  used by item_text inside a step: under the connection's mutex
    index_pipe_t *pipe;        //  between begin and commit: the vectors' thread (owns hnsw, slot_rowid)
};

typedef struct {
    int64_t rowid;
    int tier;                  //  0: every word matched, 1: some
    double bm25, title, score, popularity, rating;
    bool has_rating;
    char release [12];
    int typos;
    bool protected;            //  hybrid: a guarded keyword hit, keeps its keyword place
    double exact;              //  exactness bonus (TAG_EXACT, TAG_PHRASE, TAGLINE_PHRASE)
    double prior;              //  popularity prior added to the score (s_prior)
    double person;             //  people bonus added to the score (a person the query names)
    bool title_holds;          //  one of its titles holds every query word, word for word
    bool company;              //  the query names one of its companies: guarded in hybrid, score unchanged
    int keyword_rank;
    int semantic_rank;         //  0: not a vector hit
    double cosine;
} index_hit_t;

//  The query plan: words, their weights and typo budgets, and the FTS5
//  match expressions (AND of groups, OR of groups).
typedef struct {
    char words [MG_TEXT_QUERY_WORDS][MG_TEXT_WORD_BYTES];
    double weight [MG_TEXT_QUERY_WORDS];
    int budget [MG_TEXT_QUERY_WORDS];
    int n;
    bool last_typed;            //  q ends after its last word (a space, punctuation): no prefix
    bool unknown;               //  a word no title holds in any field (a typo, or a word the catalog lacks)
    char *and_match, *or_match;
    char **terms;               //  expanded terms (explain)
    size_t terms_count;
} index_plan_t;

//  A query's filters, resolved against the doc table once per query.
typedef struct {
    bool none;                 //  a filter no title can pass
    int tv;                    //  -1 any type, 0 movie, 1 tv
    bool has_year_from, has_year_to, has_min_rating;
    int year_from, year_to;
    double min_rating;
    uint64_t genres;           //  0: any; else a title needs one of these
    bool by_offer;             //  platforms or region given
    bool any_platform;         //  no platforms given (region only)
    bool platform [PLATFORMS_MAX];
    const char *region;
    bool mine;                 //  available=mine
    bool mine_platform [PLATFORMS_MAX];
    const char *mine_region;
    int64_t now;
} index_filter_t;

//  Growable array of hits, and the keyword matches a bounded query counted
//  but did not score (their rowids ascending, for the fusion and total).
typedef struct {
    index_hit_t *items;
    size_t count, room;
    int64_t *rest;             //  matches not in items, ascending rowids
    size_t rest_count, rest_room;
    size_t rest_joined;        //  of rest, those the fusion added to items (semantic hits)
    bool rest_more;            //  matches beyond SEARCH_TOTAL_MAX were not counted (the total is over it)
} index_hits_t;


//  ---- index.c
//  Fill err with the database's last error; returns -1.
int index_fail (search_index_t *self, char *err, size_t errlen, const char *what);
//  The kept statement id, reset and unbound; NULL (logged) when it cannot
//  be prepared.
sqlite3_stmt *index_stmt (search_index_t *self, index_stmt_id_t id);
//  Rowid of id, 0 when unknown, -1 on error.
int64_t index_rowid (search_index_t *self, const char *id);
//  Rebuild the vocabulary from the index when titles changed since.
int index_vocab (search_index_t *self);
//  Take a lane of statements for this thread's query (waits while every
//  lane is taken); index_lane_leave gives it back. Queries that hold the
//  replica's lock for reading each take one.
void index_lane_enter (search_index_t *self);
void index_lane_leave (search_index_t *self);

//  ---- index_vectors.c
//  Mark the vector of d dead (HNSW keeps it until a rebuild).
void index_vec_forget (search_index_t *self, index_doc_t *d);
//  Add vec (a unit vector) in the next slot, as the vector of the title at
//  rowid (slot_rowid; the doc's slot is the caller's). 0 or -1 (logged).
int index_vec_append (search_index_t *self, int64_t rowid, const float *vec);
//  Add vec (a unit vector) as the vector of d (at rowid). 0 or -1 (logged).
int index_vec_add (search_index_t *self, int64_t rowid, index_doc_t *d, const float *vec);
//  Over a vector index read from file: d (at rowid) takes the slot saved
//  for title id (none when the map has no slot for it).
void index_vec_claim (search_index_t *self, int64_t rowid, index_doc_t *d, const char *id);

//  ---- index_pipe.c
//  Start the vectors' thread for the puts of a snapshot load (none without
//  an embedder, over vectors read from file, or with MG_SEARCH_BUILD_PIPE=0;
//  none and a warning when no thread can be made). 0, or -1 (memory).
int index_pipe_start (search_index_t *self);
//  Queue doc's vector (stored, or its texts to embed) for the title at
//  rowid: it takes the next slot. 0, or -1 (memory, the thread failed).
int index_pipe_push (search_index_t *self, int64_t rowid, const mg_doc_t *doc);
//  Wait until every queued vector is added and record their slots in the
//  doc table (no-op without a pipe). 0, or -1 when one failed (logged).
int index_pipe_sync (search_index_t *self);
//  Sync, end the thread and free the pipe. 0, or -1 as index_pipe_sync.
int index_pipe_stop (search_index_t *self);

//  ---- index_plan.c
//  Free what plan holds and empty it.
void index_plan_clear (index_plan_t *plan);
//  Plan q: words, typo candidates (wide: the second pass's budgets),
//  match expressions limited to the columns in scope ("" for all).
//  Returns the word count, or -1.
int index_plan (search_index_t *self, const char *q, const char *scope, bool wide, index_plan_t *plan);
//  Resolve query's filters. A genre or platform the index does not know
//  matches no title.
void index_filter_init (search_index_t *self, const search_query_t *query, index_filter_t *f);
//  True when offer is current and in region (when given).
bool index_offer_live (const index_offer_t *o, const char *region, int64_t now);
//  True when doc passes every filter of f.
bool index_keep (const index_doc_t *doc, const index_filter_t *f);
//  True when f keeps every live title (no filter given).
bool index_filter_all (const index_filter_t *f);

//  ---- index_rank.c
//  Append a copy of hit. 0 or -1 (memory).
int index_hits_push (index_hits_t *hits, const index_hit_t *hit);
//  Free what hits holds and empty it.
void index_hits_free (index_hits_t *hits);
//  Matches of the query hits answers (scored and only counted).
size_t index_hits_total (const index_hits_t *hits);
//  True when rowid is among the matches counted but not scored.
bool index_hits_in_rest (const index_hits_t *hits, int64_t rowid);
//  Sort hits by compare (qsort wants a non-NULL array even when empty).
void index_hits_sort (index_hits_t *hits, int (*compare) (const void *, const void *));
//  Put the best k hits of compare's order (a total order) first, in that
//  order, the others after them in no order: a page needs only its own
//  hits ordered. The first k are those a sort of all would put there.
void index_hits_top (index_hits_t *hits, size_t k, int (*compare) (const void *, const void *));
//  qsort order of hits: rowid ascending.
int index_by_rowid (const void *a, const void *b);
//  Collect the matches of match (tier) after rowid after (0: all) that
//  pass f and are not already in hits [0, known), at most cap of them (0:
//  all), in rowid (popularity) order. 1 when it stopped at cap with
//  matches left, 0 when it saw them all, -1 on error.
int index_collect (search_index_t *self, index_phase_t phase, const char *match, const index_filter_t *f, int tier,
                   index_hits_t *hits, size_t known, size_t cap, int64_t after);
//  Register mg_bm25 () on db (FTS5's bm25 () with the phrases' row counts
//  given: index_bm25.c) and make *idf_p, the counts kept, when NULL. 0 or -1.
int index_bm25_register (sqlite3 *db, index_idf_t **idf_p);
//  Bind to param of stmt the row counts of match's phrases (counted once
//  per phrase and columns, kept until index_idf_clear), for mg_bm25 ().
//  Leaves it unbound (bm25's own counts) for an expression of another
//  shape. 0 or -1.
int index_idf_bind (search_index_t *self, sqlite3_stmt *stmt, int param, const char *match);
//  The most rows any one phrase of match holds (in its columns: kept
//  counts, else counted and kept); -1 for an expression of another shape
//  or when one cannot be counted. A match of one group of phrases
//  joined by OR has at least that many rows.
int64_t index_idf_rows_max (search_index_t *self, const char *match);
//  Forget the counts (the index changed).
void index_idf_clear (index_idf_t *idf);
void index_idf_destroy (index_idf_t **idf_p);
//  Now on the monotonic clock, in ns (a phase's start).
uint64_t index_clock_ns (void);
//  Count one run of phase that started at since_ns (index_clock_ns) and
//  went through rows rows.
void index_phase_add (search_index_t *self, index_phase_t phase, uint64_t since_ns, size_t rows);
//  Count runs of phase that took ns in all, with rows.
void index_phase_count (search_index_t *self, index_phase_t phase, uint64_t ns, size_t runs, size_t rows);
//  qsort order of hits: tier, then score descending, then rowid.
int index_by_score (const void *a, const void *b);
//  Placeholder search (no words): every live title passing f, scored by
//  its popularity prior alone.
int index_placeholder (search_index_t *self, const index_filter_t *f, index_hits_t *hits);
//  Give the best RERANK_MAX hits of each tier their final score.
void index_rank (search_index_t *self, const index_plan_t *plan, index_hits_t *hits);
//  Keyword hits of plan passing f into hits, ranked: the AND, then (when
//  it finds few) the OR fallback. With bounded (a relevance query's first
//  pages), a broad AND scores KEYWORD_TOP matches and those whose titles
//  hold the words, and counts the rest into hits->rest.
int index_keyword (search_index_t *self, const index_plan_t *plan, const index_filter_t *f, bool bounded,
                   index_hits_t *hits);
//  Best title similarity among hits.
double index_best_title (const index_hits_t *hits);
//  The second pass (people type "the msrfs"): when the first budget found
//  no title the query spells out and a word is in no title, plan q again
//  with the wide budgets and keep that answer (plan and hits) when it
//  spells out a title better.
int index_second_pass (search_index_t *self, const char *q, const index_filter_t *f, bool bounded,
                       index_plan_t *plan, index_hits_t *hits);

//  ---- index_facets.c
//  Facets over every hit: genres, platforms (titles with a current offer
//  there, in region when given), years, types.
int index_facets (search_index_t *self, const search_query_t *query, const index_hits_t *hits, mg_search_facets_t *facets);
//  RFC 3339 UTC text of now, to compare with offers' expires_at.
void index_now_text (char out [32]);
//  Decode the stored item of hit into out.
int index_fill_hit (search_index_t *self, const index_hit_t *hit, const search_query_t *query,
                    const index_plan_t *plan, const char *now, mg_search_hit_t *out, char *err, size_t errlen);

//  ---- index_people.c
//  A type=person query into rep (people only; facets empty). 0, or -1 with
//  a reason in err.
int index_people_query (search_index_t *self, const search_query_t *query, mg_search_reply_t *rep,
                        char *err, size_t errlen);
//  Up to max people whose names start like plan (the last word a prefix),
//  best first, appended to rep as items of type person. 0 or -1.
int index_people_suggest (search_index_t *self, const index_plan_t *plan, size_t max,
                          mg_autocomplete_reply_t *rep);

#endif
