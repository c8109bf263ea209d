/*  The bundled catalog in memory, with the orders listing endpoints walk and
    derived identifiers. Everything here is a pure function of the file (and,
    for popularity, of the time: it drifts, sim_item_popularity): two runs of
    the simulator on the same catalog at the same time answer the same bytes.  */
#include "sim_catalog.h"

#include <assert.h>
#include <stdbool.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define LINE_MAX_BYTES  (4 * 1024 * 1024)   //  the importer's limit for one catalog line
#define IMDB_BASE       1000000             //  tt(1000000 + tmdb id): 7 digits for every TMDB id below 9M

struct sim_catalog_t {
    sim_item_t *items;              //  in file order
    size_t count;
    const sim_item_t **orders [SIM_ORDER_COUNT];
    struct { char id [12]; const sim_item_t *item; } *videos;
    size_t video_count;
    json_t *docs;                   //  array holding every line
};

//  splitmix64: a fast, well-mixed 64-bit hash of one word.
static uint64_t
s_mix (uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t
sim_hash (const char *salt, long long value)
{
    uint64_t h = 1469598103934665603ULL;         //  FNV-1a offset basis
    for (const char *c = salt; *c; c++)
        h = (h ^ (unsigned char) *c) * 1099511628211ULL;
    return s_mix (h ^ s_mix ((uint64_t) value));
}

//  An 11-character YouTube video id: 64 bits in base64url, so the last
//  character carries only 4 bits and is one of 16, as real ids are.
static void
s_video_id (long long tmdb, const char *salt, char *out)
{
    static const char alphabet [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t h = sim_hash (salt, tmdb);
    for (int i = 0; i < 10; i++) {
        out [i] = alphabet [(h >> (58 - 6 * i)) & 63];
    }
    out [10] = alphabet [(h & 15) << 2];
    out [11] = '\0';
}

void
sim_image_path (long long tmdb, const char *salt, const char *ext, char *out, size_t size)
{
    static const char alphabet [] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char text [28];
    uint64_t h = sim_hash (salt, tmdb);
    for (int i = 0; i < 27; i++) {
        if (i % 10 == 9)
            h = s_mix (h);
        text [i] = alphabet [h % 62];
        h /= 62;
    }
    text [27] = '\0';
    snprintf (out, size, "/%s.%s", text, ext);
}

//  TMDB genre ids (films, then series-only ones), one bit each in sim_item_t.genres.
static const long long s_genre_ids [] = {
    28, 12, 16, 35, 80, 99, 18, 10751, 14, 36, 27, 10402, 9648, 10749, 878, 10770, 53, 10752, 37,
    10759, 10762, 10763, 10764, 10765, 10766, 10767, 10768
};

//  The bit of a TMDB genre id, or 0 when it is not one of TMDB's.
static uint32_t
s_genre_bit (long long genre)
{
    for (size_t i = 0; i < sizeof s_genre_ids / sizeof *s_genre_ids; i++)
        if (s_genre_ids [i] == genre)
            return 1u << i;
    return 0;
}

//  Fill item from its catalog line; -1 when the line has no usable id/title.
static int
s_item_init (sim_item_t *item, const json_t *doc)
{
    const json_t *id = json_object_get (doc, "id");
    if (!json_is_integer (id) || json_integer_value (id) <= 0 || json_integer_value (id) >= 9000000
    ||  !json_is_string (json_object_get (doc, "title")))
        return -1;
    item->tmdb = json_integer_value (id);
    item->doc = doc;
    size_t index;
    const json_t *g;
    json_array_foreach (json_object_get (doc, "genres"), index, g)
        item->genres |= s_genre_bit (json_integer_value (json_object_get (g, "id")));
    const char *date = json_string_value (json_object_get (doc, "release_date"));
    item->year = date && strlen (date) >= 4 ? atoi (date) : 0;
    snprintf (item->imdb, sizeof item->imdb, "tt%07lld", IMDB_BASE + item->tmdb);
    s_video_id (item->tmdb, "trailer", item->trailer);
    s_video_id (item->tmdb, "teaser", item->teaser);
    sim_image_path (item->tmdb, "poster", "jpg", item->poster, sizeof item->poster);
    sim_image_path (item->tmdb, "backdrop", "jpg", item->backdrop, sizeof item->backdrop);
    return 0;
}

static int
s_cmp_popularity (const void *a, const void *b)
{
    const sim_item_t *x = *(const sim_item_t *const *) a, *y = *(const sim_item_t *const *) b;
    double px = sim_item_num (x, "popularity"), py = sim_item_num (y, "popularity");
    return px < py ? 1 : px > py ? -1 : (x->tmdb > y->tmdb) - (x->tmdb < y->tmdb);
}

//  Today's trending: popularity times a factor in [0.25, 1.75) per title.
static double
s_trending (const sim_item_t *item)
{
    return sim_item_num (item, "popularity") * (0.25 + (double) (sim_hash ("trending", item->tmdb) % 1500) / 1000.0);
}

static int
s_cmp_trending (const void *a, const void *b)
{
    const sim_item_t *x = *(const sim_item_t *const *) a, *y = *(const sim_item_t *const *) b;
    double px = s_trending (x), py = s_trending (y);
    return px < py ? 1 : px > py ? -1 : (x->tmdb > y->tmdb) - (x->tmdb < y->tmdb);
}

static int
s_cmp_rating (const void *a, const void *b)
{
    const sim_item_t *x = *(const sim_item_t *const *) a, *y = *(const sim_item_t *const *) b;
    double rx = sim_item_num (x, "vote_average"), ry = sim_item_num (y, "vote_average");
    if (rx != ry)
        return rx < ry ? 1 : -1;
    double cx = sim_item_num (x, "vote_count"), cy = sim_item_num (y, "vote_count");
    return cx < cy ? 1 : cx > cy ? -1 : (x->tmdb > y->tmdb) - (x->tmdb < y->tmdb);
}

static int
s_cmp_release (const void *a, const void *b)
{
    const sim_item_t *x = *(const sim_item_t *const *) a, *y = *(const sim_item_t *const *) b;
    int c = strcmp (sim_item_str (y, "release_date"), sim_item_str (x, "release_date"));
    return c ? c : (x->tmdb > y->tmdb) - (x->tmdb < y->tmdb);
}

static int
s_cmp_id (const void *a, const void *b)
{
    const sim_item_t *x = *(const sim_item_t *const *) a, *y = *(const sim_item_t *const *) b;
    return (x->tmdb > y->tmdb) - (x->tmdb < y->tmdb);
}

static int
s_cmp_video (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);    //  id is the first member
}

//  Read every line of path into self->docs. 0 or -1 with a reason.
static int
s_read (sim_catalog_t *self, const char *path, char *err, size_t errlen)
{
    gzFile in = gzopen (path, "rb");
    if (!in) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno ? errno : ENOENT));
        return -1;
    }
    char *line = malloc (LINE_MAX_BYTES);
    int rc = line ? 0 : -1;
    size_t row = 0;
    while (rc == 0 && gzgets (in, line, LINE_MAX_BYTES)) {
        row++;
        size_t len = strlen (line);
        if (len > 0 && line [len - 1] != '\n' && !gzeof (in)) {
            snprintf (err, errlen, "%s:%zu: line longer than 4 MiB", path, row);
            rc = -1;
            break;
        }
        line [strcspn (line, "\r\n")] = '\0';
        if (!*line)
            continue;
        json_error_t jerr;
        json_t *doc = json_loads (line, 0, &jerr);
        if (!json_is_object (doc)) {
            snprintf (err, errlen, "%s:%zu: not a JSON object (%s)", path, row, jerr.text);
            json_decref (doc);
            rc = -1;
            break;
        }
        json_array_append_new (self->docs, doc);
    }
    int zerr = Z_OK;
    const char *message = gzerror (in, &zerr);
    if (rc == 0 && zerr != Z_OK && zerr != Z_STREAM_END) {
        snprintf (err, errlen, "%s: %s", path, message);
        rc = -1;
    }
    if (!line)
        snprintf (err, errlen, "out of memory");
    free (line);
    gzclose (in);
    return rc;
}

sim_catalog_t *
sim_catalog_new (const char *path, char *err, size_t errlen)
{
    assert (path);
    sim_catalog_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->docs = json_array ();
    if (s_read (self, path, err, errlen) != 0) {
        sim_catalog_destroy (&self);
        return NULL;
    }
    size_t total = json_array_size (self->docs);
    self->items = calloc (total ? total : 1, sizeof *self->items);
    self->videos = calloc (total ? 2 * total : 1, sizeof *self->videos);
    for (int o = 0; o < SIM_ORDER_COUNT; o++)
        self->orders [o] = calloc (total ? total : 1, sizeof (sim_item_t *));
    bool ok = self->items && self->videos;
    for (int o = 0; o < SIM_ORDER_COUNT; o++)
        ok = ok && self->orders [o];
    if (!ok) {
        snprintf (err, errlen, "out of memory");
        sim_catalog_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < total; i++)
        if (s_item_init (&self->items [self->count], json_array_get (self->docs, i)) == 0)
            self->count++;
    if (self->count == 0) {
        snprintf (err, errlen, "%s: no titles", path);
        sim_catalog_destroy (&self);
        return NULL;
    }
    for (int o = 0; o < SIM_ORDER_COUNT; o++)
        for (size_t i = 0; i < self->count; i++)
            self->orders [o][i] = &self->items [i];
    int (*cmp [SIM_ORDER_COUNT]) (const void *, const void *) = {
        s_cmp_popularity, s_cmp_trending, s_cmp_rating, s_cmp_release, s_cmp_id
    };
    for (int o = 0; o < SIM_ORDER_COUNT; o++)
        qsort (self->orders [o], self->count, sizeof (sim_item_t *), cmp [o]);
    for (size_t i = 0; i < self->count; i++) {
        const sim_item_t *item = &self->items [i];
        memcpy (self->videos [self->video_count].id, item->trailer, 12);
        self->videos [self->video_count++].item = item;
        memcpy (self->videos [self->video_count].id, item->teaser, 12);
        self->videos [self->video_count++].item = item;
    }
    qsort (self->videos, self->video_count, sizeof *self->videos, s_cmp_video);
    return self;
}

void
sim_catalog_destroy (sim_catalog_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sim_catalog_t *self = *self_p;
        for (int o = 0; o < SIM_ORDER_COUNT; o++)
            free (self->orders [o]);
        free (self->videos);
        free (self->items);
        json_decref (self->docs);
        free (self);
        *self_p = NULL;
    }
}

size_t
sim_catalog_size (const sim_catalog_t *self)
{
    assert (self);
    return self->count;
}

const sim_item_t *
sim_catalog_at (const sim_catalog_t *self, sim_order_t order, size_t index)
{
    assert (self);
    return index < self->count && order < SIM_ORDER_COUNT ? self->orders [order][index] : NULL;
}

const sim_item_t *
sim_catalog_by_tmdb (const sim_catalog_t *self, long long tmdb)
{
    assert (self);
    size_t lo = 0, hi = self->count;
    const sim_item_t *const *ids = self->orders [SIM_ORDER_ID];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids [mid]->tmdb == tmdb)
            return ids [mid];
        if (ids [mid]->tmdb < tmdb)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const sim_item_t *
sim_catalog_by_imdb (const sim_catalog_t *self, const char *imdb)
{
    assert (self);
    if (!imdb || strncmp (imdb, "tt", 2) != 0)
        return NULL;
    size_t n = strlen (imdb + 2);
    if (n < 7 || n > 8 || strspn (imdb + 2, "0123456789") != n)
        return NULL;
    const sim_item_t *item = sim_catalog_by_tmdb (self, atoll (imdb + 2) - IMDB_BASE);
    return item && strcmp (item->imdb, imdb) == 0 ? item : NULL;
}

const sim_item_t *
sim_catalog_by_video (const sim_catalog_t *self, const char *video_id)
{
    assert (self);
    if (!video_id || strlen (video_id) != 11)
        return NULL;
    char key [12];
    memcpy (key, video_id, 12);
    const void *hit = bsearch (key, self->videos, self->video_count, sizeof *self->videos, s_cmp_video);
    return hit ? self->videos [((const char *) hit - (const char *) self->videos) / sizeof *self->videos].item : NULL;
}

int
sim_item_has_genre (const sim_item_t *item, long long genre)
{
    uint32_t bit = s_genre_bit (genre);
    return bit && (item->genres & bit) != 0;
}

int
sim_item_matches (const sim_item_t *item, const char *query)
{
    return strcasestr (sim_item_str (item, "title"), query) != NULL
        || strcasestr (sim_item_str (item, "original_title"), query) != NULL;
}

const char *
sim_item_str (const sim_item_t *item, const char *key)
{
    const char *value = json_string_value (json_object_get (item->doc, key));
    return value ? value : "";
}

double
sim_item_num (const sim_item_t *item, const char *key)
{
    const json_t *value = json_object_get (item->doc, key);
    return json_is_number (value) ? json_number_value (value) : 0;
}

//  Drift period in seconds, 0 = none. Set once at start, before any request
//  is served: items carry no pointer back to their catalog.
static long s_drift_period_s = SIM_DRIFT_PERIOD_DEFAULT_S;

void
sim_catalog_set_drift (long period_s)
{
    s_drift_period_s = period_s > 0 ? period_s : 0;
}

double
sim_item_popularity (const sim_item_t *item, time_t now)
{
    double base = sim_item_num (item, "popularity");
    if (s_drift_period_s == 0)
        return base;
    //  Each title on its own phase, so that at any time some rise and some
    //  fall: trending's day and week windows see a change to rank by.
    double phase = (double) (sim_hash ("drift", item->tmdb) % 10000) / 10000.0;
    //  Hourly steps, as the providers publish it: an answer (and its ETag)
    //  stays the same within the hour, so revalidation still gets its 304.
    time_t step = now - now % SIM_DRIFT_STEP_S;
    double turn = (double) (step % s_drift_period_s) / (double) s_drift_period_s + phase;
    return round (base * (1.0 + SIM_DRIFT_AMPLITUDE * sin (2.0 * M_PI * turn)) * 1000.0) / 1000.0;
}
