/*  Record normalisation (seed-analysis §3.3-3.4).  */
#include "normalize.h"
#include "title.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Platform names providers use, to our slugs.
static const char *s_platforms [][2] = {
    { "amazon prime video", "prime-video" }, { "prime video", "prime-video" }, { "amazon prime", "prime-video" },
    { "amazon video", "prime-video" }, { "prime", "prime-video" }, { "disney", "disney-plus" },
    { "disney plus", "disney-plus" }, { "hbo max", "max" }, { "hbo", "max" }, { "apple tv plus", "apple-tv-plus" },
    { "apple tv+", "apple-tv-plus" }, { "itunes", "apple-tv" }, { "paramount plus", "paramount-plus" },
    { "paramount", "paramount-plus" }, { "google play movies", "google-play" }, { "google play", "google-play" },
    { "youtube premium", "youtube" }, { "pluto", "pluto-tv" }, { "plutotv", "pluto-tv" }
};

//  Country names some providers send instead of codes.
static const char *s_countries [][2] = {
    { "united states", "US" }, { "usa", "US" }, { "united states of america", "US" },
    { "united kingdom", "GB" }, { "uk", "GB" }, { "great britain", "GB" }, { "canada", "CA" },
    { "germany", "DE" }, { "france", "FR" }, { "spain", "ES" }, { "italy", "IT" }, { "india", "IN" },
    { "brazil", "BR" }, { "japan", "JP" }, { "australia", "AU" }, { "mexico", "MX" },
    { "netherlands", "NL" }, { "sweden", "SE" }, { "south korea", "KR" }, { "korea", "KR" }
};

//  Offer types: provider synonyms to ours.
static const char *s_offers [][2] = {
    { "subscription", "subscription" }, { "sub", "subscription" }, { "flatrate", "subscription" },
    { "svod", "subscription" }, { "addon", "subscription" }, { "rent", "rent" }, { "rental", "rent" },
    { "tvod", "rent" }, { "buy", "buy" }, { "purchase", "buy" }, { "est", "buy" }, { "free", "free" },
    { "ads", "ads" }, { "avod", "ads" }, { "ad supported", "ads" }
};

static const char *s_qualities [][2] = {
    { "sd", "sd" }, { "480p", "sd" }, { "hd", "hd" }, { "720p", "hd" }, { "1080p", "hd" }, { "fhd", "hd" },
    { "uhd", "uhd" }, { "4k", "uhd" }, { "2160p", "uhd" }, { "hdr", "hdr" }, { "dolby vision", "hdr" }
};

//  Lower-case copy of s with runs of space, '_' and '.' as one space.
static void
s_key (const char *s, char *out, size_t len)
{
    size_t n = 0;
    bool space = false;
    for (; s && *s && n + 1 < len; s++) {
        char c = (char) tolower ((unsigned char) *s);
        if (c == ' ' || c == '_' || c == '.') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < len)
            out [n++] = ' ';
        space = false;
        out [n++] = c;
    }
    out [n] = 0;
}

//  Replace *field with a copy of value.
static int
s_set (char **field, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return -1;
    free (*field);
    *field = copy;
    return 0;
}

//  Look key up in a two-column table; NULL when absent.
static const char *
s_lookup (const char *(*table) [2], size_t rows, const char *key)
{
    for (size_t i = 0; i < rows; i++)
        if (strcmp (table [i][0], key) == 0)
            return table [i][1];
    return NULL;
}

#define LOOKUP(table, key) s_lookup (table, sizeof table / sizeof table [0], key)

genre_set_t
normalize_genres (const mg_raw_record_t *record)
{
    genre_set_t set = 0;
    for (size_t i = 0; i < record->genres_count; i++) {
        int id = genres_id (record->genres [i]);
        set |= id ? (genre_set_t) 1 << (id - 1) : genres_from_name (record->genres [i]);
    }
    bool tmdb = record->source && strcmp (record->source, "tmdb") == 0;
    for (size_t i = 0; tmdb && i < record->genre_ids_count; i++)
        set |= genres_from_tmdb_id (strtoll (record->genre_ids [i], NULL, 10));
    return set;
}

//  Platform slug: known name, else lower-case with '-' for spaces and '+' -> "-plus".
static int
s_platform (char **platform)
{
    char key [128];
    s_key (*platform, key, sizeof key);
    const char *known = LOOKUP (s_platforms, key);
    if (known)
        return s_set (platform, known);
    char slug [128];
    size_t n = 0;
    for (const char *p = key; *p && n + 6 < sizeof slug; p++) {
        if (isalnum ((unsigned char) *p))
            slug [n++] = *p;
        else
        if (*p == '+') {
            memcpy (slug + n, n ? "-plus" : "plus", n ? 5 : 4);
            n += n ? 5 : 4;
        }
        else
        if (n && slug [n - 1] != '-')
            slug [n++] = '-';
    }
    while (n && slug [n - 1] == '-')
        n--;
    slug [n] = 0;
    return n ? s_set (platform, slug) : -1;
}

int
normalize_record (mg_raw_record_t *r, char *err, size_t errlen)
{
    char key [128];
    if (r->type) {
        s_key (r->type, key, sizeof key);
        const char *type = !strcmp (key, "movie") || !strcmp (key, "film") ? "movie"
                         : !strcmp (key, "tv") || !strcmp (key, "series") || !strcmp (key, "show")
                           || !strcmp (key, "tv series") ? "tv" : NULL;
        if (!type) {
            snprintf (err, errlen, "type '%s' is neither movie nor tv", r->type);
            return -1;
        }
        if (s_set (&r->type, type))
            goto oom;
    }
    else
    if (s_set (&r->type, "movie"))
        goto oom;
    char probe [TITLE_MAX];
    if (title_normalize (r->title, probe, sizeof probe) < 0) {
        snprintf (err, errlen, "title has no letters or digits");
        return -1;
    }
    if (r->release_date && *r->release_date) {
        int y = 0, m = 0, d = 0;
        if (sscanf (r->release_date, "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31) {
            snprintf (err, errlen, "release_date '%s' is not YYYY-MM-DD", r->release_date);
            return -1;
        }
        if (!r->has_year) {
            r->year = (uint64_t) y;
            r->has_year = true;
        }
    }
    else
    if (r->release_date) {
        free (r->release_date);
        r->release_date = NULL;
    }
    if (r->has_year && (r->year < 1870 || r->year > 2100)) {
        snprintf (err, errlen, "year %llu is out of range", (unsigned long long) r->year);
        return -1;
    }
    if (r->original_language) {
        s_key (r->original_language, key, sizeof key);
        if (strlen (key) < 2 || strlen (key) > 3 || strspn (key, "abcdefghijklmnopqrstuvwxyz") != strlen (key)) {
            free (r->original_language);
            r->original_language = NULL;      //  not ISO 639: dropped, not fatal
        }
        else
        if (s_set (&r->original_language, key))
            goto oom;
    }
    if (r->has_vote_average && (r->vote_average < 0 || r->vote_average > 10))
        r->has_vote_average = false;
    if (r->has_popularity && r->popularity < 0)
        r->has_popularity = false;
    //  Genres: canonical slugs replace the source's names and ids.
    genre_set_t genres = normalize_genres (r);
    for (size_t i = 0; i < r->genres_count; i++)
        free (r->genres [i]);
    for (size_t i = 0; i < r->genre_ids_count; i++)
        free (r->genre_ids [i]);
    free (r->genre_ids);
    r->genre_ids = NULL;
    r->genre_ids_count = 0;
    r->genres_count = 0;
    free (r->genres);
    r->genres = genres ? calloc (GENRE_COUNT, sizeof (char *)) : NULL;
    if (genres && !r->genres)
        goto oom;
    for (int id = 1; id <= GENRE_COUNT; id++)
        if (genres & ((genre_set_t) 1 << (id - 1))) {
            r->genres [r->genres_count] = strdup (genres_slug (id));
            if (!r->genres [r->genres_count])
                goto oom;
            r->genres_count++;
        }
    if (r->genres_count == 0) {
        free (r->genres);
        r->genres = NULL;
    }
    //  Availability.
    for (size_t i = 0; i < r->availability_count; i++) {
        mg_raw_availability_t *a = &r->availability [i];
        if (s_platform (&a->platform)) {
            snprintf (err, errlen, "availability[%zu]: platform '%s' has no letters", i, a->platform);
            return -1;
        }
        s_key (a->region, key, sizeof key);
        const char *country = LOOKUP (s_countries, key);
        if (!country && strlen (key) == 2 && isalpha ((unsigned char) key [0]) && isalpha ((unsigned char) key [1]))
            country = key;
        if (!country) {
            snprintf (err, errlen, "availability[%zu]: region '%s' is not an ISO 3166-1 country", i, a->region);
            return -1;
        }
        char upper [3] = { (char) toupper ((unsigned char) country [0]), (char) toupper ((unsigned char) country [1]), 0 };
        if (s_set (&a->region, upper))
            goto oom;
        s_key (a->type, key, sizeof key);
        const char *offer = LOOKUP (s_offers, key);
        if (!offer) {
            snprintf (err, errlen, "availability[%zu]: offer type '%s' is unknown", i, a->type);
            return -1;
        }
        if (s_set (&a->type, offer))
            goto oom;
        //  One name, two platforms (Streaming Availability's "apple"): a
        //  subscription is Apple TV+, a rental or purchase the Apple TV store.
        if (strcmp (a->platform, "apple") == 0
        &&  s_set (&a->platform, strcmp (offer, "subscription") == 0 ? "apple-tv-plus" : "apple-tv"))
            goto oom;
        if (a->quality) {
            s_key (a->quality, key, sizeof key);
            const char *quality = LOOKUP (s_qualities, key);
            if (s_set (&a->quality, quality ? quality : "hd"))
                goto oom;
        }
        if (a->currency) {
            s_key (a->currency, key, sizeof key);
            if (strlen (key) != 3 || strspn (key, "abcdefghijklmnopqrstuvwxyz") != 3) {
                snprintf (err, errlen, "availability[%zu]: currency '%s' is not ISO 4217", i, a->currency);
                return -1;
            }
            char code [4] = { (char) toupper ((unsigned char) key [0]), (char) toupper ((unsigned char) key [1]),
                              (char) toupper ((unsigned char) key [2]), 0 };
            if (s_set (&a->currency, code))
                goto oom;
        }
        if (a->has_price && (a->price < 0 || !a->currency)) {
            a->has_price = false;             //  a price without a currency means nothing
            free (a->currency);
            a->currency = NULL;
        }
        if (!a->has_price && a->currency) {
            free (a->currency);
            a->currency = NULL;
        }
    }
    return 0;
oom:
    snprintf (err, errlen, "out of memory");
    return -1;
}
