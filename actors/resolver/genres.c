/*  Genre mapping tables (seed-analysis §3.3; architecture §4).  */
#include "genres.h"
#include "title.h"

#include <string.h>

#define G(id) ((genre_set_t) 1 << ((id) - 1))
enum {
    ACTION = 1, ANIMATION, COMEDY, CRIME, DOCUMENTARY, DRAMA, FAMILY, FANTASY, HISTORY,
    HORROR, MUSIC, MYSTERY, ROMANCE, SCIENCE_FICTION, THRILLER, WAR, WESTERN, REALITY
};

static const char *s_slugs [GENRE_COUNT + 1] = {
    NULL, "action", "animation", "comedy", "crime", "documentary", "drama", "family", "fantasy",
    "history", "horror", "music", "mystery", "romance", "science-fiction", "thriller", "war",
    "western", "reality"
};

static const struct { int64_t id; genre_set_t genres; } s_tmdb [] = {
    { 28, G (ACTION) }, { 12, G (ACTION) }, { 16, G (ANIMATION) }, { 35, G (COMEDY) },
    { 80, G (CRIME) }, { 99, G (DOCUMENTARY) }, { 18, G (DRAMA) }, { 10751, G (FAMILY) },
    { 14, G (FANTASY) }, { 36, G (HISTORY) }, { 27, G (HORROR) }, { 10402, G (MUSIC) },
    { 9648, G (MYSTERY) }, { 10749, G (ROMANCE) }, { 878, G (SCIENCE_FICTION) },
    { 10770, 0 }, { 53, G (THRILLER) }, { 10752, G (WAR) }, { 37, G (WESTERN) },
    //  TV list
    { 10759, G (ACTION) }, { 10762, G (FAMILY) }, { 10763, G (REALITY) }, { 10764, G (REALITY) },
    { 10765, G (SCIENCE_FICTION) | G (FANTASY) }, { 10766, G (DRAMA) }, { 10767, G (REALITY) },
    { 10768, G (WAR) }
};

//  Normalised names (title_normalize) of every provider's genres we know.
static const struct { const char *name; genre_set_t genres; } s_aliases [] = {
    { "action", G (ACTION) }, { "adventure", G (ACTION) }, { "action and adventure", G (ACTION) },
    { "martial arts", G (ACTION) }, { "animation", G (ANIMATION) }, { "anime", G (ANIMATION) },
    { "comedy", G (COMEDY) }, { "stand up", G (COMEDY) }, { "sitcom", G (COMEDY) },
    { "crime", G (CRIME) }, { "film noir", G (CRIME) }, { "documentary", G (DOCUMENTARY) },
    { "drama", G (DRAMA) }, { "melodrama", G (DRAMA) }, { "soap", G (DRAMA) },
    { "family", G (FAMILY) }, { "children", G (FAMILY) }, { "kids", G (FAMILY) },
    { "fantasy", G (FANTASY) }, { "history", G (HISTORY) }, { "historical", G (HISTORY) },
    { "biography", G (HISTORY) }, { "horror", G (HORROR) }, { "music", G (MUSIC) },
    { "musical", G (MUSIC) }, { "mystery", G (MYSTERY) }, { "romance", G (ROMANCE) },
    { "science fiction", G (SCIENCE_FICTION) }, { "sci fi", G (SCIENCE_FICTION) },
    { "sci fi and fantasy", G (SCIENCE_FICTION) | G (FANTASY) }, { "scifi", G (SCIENCE_FICTION) },
    { "thriller", G (THRILLER) }, { "suspense", G (THRILLER) }, { "war", G (WAR) },
    { "war and politics", G (WAR) }, { "western", G (WESTERN) }, { "reality", G (REALITY) },
    { "reality tv", G (REALITY) }, { "talk", G (REALITY) }, { "talk show", G (REALITY) },
    { "news", G (REALITY) }, { "game show", G (REALITY) },
    //  Known non-genres: formats and labels, never fuzzy-matched to a genre.
    { "tv movie", 0 }, { "imax", 0 }, { "no genres listed", 0 }, { "foreign", 0 }, { "short", 0 }
};

genre_set_t
genres_from_tmdb_id (int64_t tmdb_id)
{
    for (size_t i = 0; i < sizeof s_tmdb / sizeof s_tmdb [0]; i++)
        if (s_tmdb [i].id == tmdb_id)
            return s_tmdb [i].genres;
    return 0;
}

genre_set_t
genres_from_name (const char *name)
{
    char normalized [TITLE_MAX];
    if (!name || title_normalize (name, normalized, sizeof normalized) < 0)
        return 0;
    double best = 0.0;
    genre_set_t best_genres = 0;
    for (size_t i = 0; i < sizeof s_aliases / sizeof s_aliases [0]; i++) {
        if (strcmp (normalized, s_aliases [i].name) == 0)
            return s_aliases [i].genres;
        double similarity = title_similarity (normalized, s_aliases [i].name);
        if (similarity > best) {
            best = similarity;
            best_genres = s_aliases [i].genres;
        }
    }
    return best >= 0.8 ? best_genres : 0;
}

const char *
genres_slug (int id)
{
    return id >= 1 && id <= GENRE_COUNT ? s_slugs [id] : NULL;
}

int
genres_id (const char *slug)
{
    for (int id = 1; slug && id <= GENRE_COUNT; id++)
        if (strcmp (s_slugs [id], slug) == 0)
            return id;
    return 0;
}
