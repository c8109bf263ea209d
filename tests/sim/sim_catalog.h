/*  The simulator's data: the bundled catalog (JSON lines of TMDB movie
    objects with an "availability" list), loaded once, plus identifiers the
    catalog lacks, derived deterministically from the TMDB id so that every
    provider of the simulator names the same title the same way.  */
#ifndef SIM_CATALOG_H_INCLUDED
#define SIM_CATALOG_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct sim_catalog_t sim_catalog_t;

typedef struct {
    long long tmdb;                 //  TMDB id (the catalog's "id")
    int year;                       //  release year, 0 when unknown
    const json_t *doc;              //  the catalog line (owned by the catalog)
    char imdb [24];                 //  "tt" + 7 digits
    char trailer [12];              //  YouTube-style video ids (11 characters)
    char teaser [12];
    char poster [40];               //  TMDB-style image paths ("/….jpg")
    char backdrop [40];
    uint32_t genres;                //  TMDB genre ids as bits (sim_catalog.c's table)
} sim_item_t;

//  Orders of the catalog a listing endpoint walks.
typedef enum {
    SIM_ORDER_POPULARITY,           //  popularity, highest first
    SIM_ORDER_TRENDING_DAY,         //  popularity scaled by a per-title daily factor
    SIM_ORDER_RATING,               //  vote_average, then vote_count
    SIM_ORDER_RELEASE,              //  release date, newest first
    SIM_ORDER_ID,                   //  TMDB id, ascending
    SIM_ORDER_COUNT
} sim_order_t;

//  Load path (plain or gzip JSON lines). NULL with a reason in err.
sim_catalog_t *sim_catalog_new (const char *path, char *err, size_t errlen);

void sim_catalog_destroy (sim_catalog_t **self_p);

size_t sim_catalog_size (const sim_catalog_t *self);

//  The item at position index of order (index < size).
const sim_item_t *sim_catalog_at (const sim_catalog_t *self, sim_order_t order, size_t index);

//  Lookups; NULL when absent.
const sim_item_t *sim_catalog_by_tmdb (const sim_catalog_t *self, long long tmdb);
const sim_item_t *sim_catalog_by_imdb (const sim_catalog_t *self, const char *imdb);
const sim_item_t *sim_catalog_by_video (const sim_catalog_t *self, const char *video_id);

//  A stable 64-bit hash of a salt and a number (splitmix64 of both).
uint64_t sim_hash (const char *salt, long long value);

//  A TMDB-style image path of id ("/" + 27 base62 characters + "." + ext),
//  the same for the same salt and id: posters and backdrops of titles,
//  profiles of people, logos of companies.
void sim_image_path (long long id, const char *salt, const char *ext, char *out, size_t size);

//  Number of genre ids two items share (inline: similar-title lists call it
//  for every title of the catalog).
static inline int
sim_catalog_shared_genres (const sim_item_t *a, const sim_item_t *b)
{
    uint32_t x = a->genres & b->genres;
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return (int) ((((x + (x >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24);
}

//  True when item has TMDB genre id genre.
int sim_item_has_genre (const sim_item_t *item, long long genre);

//  Case-insensitive: does item's title or original title contain query?
int sim_item_matches (const sim_item_t *item, const char *query);

//  A string field of the item's catalog line, "" when absent.
const char *sim_item_str (const sim_item_t *item, const char *key);

//  A number field of the item's catalog line, 0 when absent.
double sim_item_num (const sim_item_t *item, const char *key);

//  Popularity drifts around the catalog's value, by at most this fraction,
//  over a sine of this period (4 days: a day's and a week's change differ),
//  so that a demo's popularity snapshots have history to rank by.
#define SIM_DRIFT_AMPLITUDE          0.25
#define SIM_DRIFT_PERIOD_DEFAULT_S   (4 * 86400)
#define SIM_DRIFT_PERIOD_MAX_S       (365 * 86400)
#define SIM_DRIFT_STEP_S             3600        //  popularity changes once an hour

//  Set the drift period in seconds (0: popularity is the catalog's value).
void sim_catalog_set_drift (long period_s);

//  The item's popularity at time now (the catalog's value, drifted).
double sim_item_popularity (const sim_item_t *item, time_t now);

#endif
