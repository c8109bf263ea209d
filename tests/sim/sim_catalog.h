/*  The simulator's data: the bundled catalog (JSON lines of TMDB movie
    objects with an "availability" list), loaded once, plus identifiers the
    catalog lacks, derived deterministically from the TMDB id so that every
    provider of the simulator names the same title the same way.  */
#ifndef SIM_CATALOG_H_INCLUDED
#define SIM_CATALOG_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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

//  Number of genre ids two items share.
int sim_catalog_shared_genres (const sim_item_t *a, const sim_item_t *b);

//  True when item has TMDB genre id genre.
int sim_item_has_genre (const sim_item_t *item, long long genre);

//  Case-insensitive: does item's title or original title contain query?
int sim_item_matches (const sim_item_t *item, const char *query);

//  A string field of the item's catalog line, "" when absent.
const char *sim_item_str (const sim_item_t *item, const char *key);

//  A number field of the item's catalog line, 0 when absent.
double sim_item_num (const sim_item_t *item, const char *key);

#endif
