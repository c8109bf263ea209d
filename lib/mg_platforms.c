/*  The canonical platform table. The slugs are those the resolver maps
    provider names to (actors/resolver/normalize.c); the regions are the
    ones each service is sold in among the regions the catalog carries.
    A new platform is a line here.  */
#include "mg_platforms.h"

#include <assert.h>
#include <string.h>

#define R(...) (const char *const []) { __VA_ARGS__, NULL }

//  Sorted by slug: GET /api/v1/platforms lists them in this order.
static const mg_platform_info_t s_platforms [] = {
    { "apple-tv",       "Apple TV",         "/platforms/apple-tv.png",
      R ("AU", "CA", "DE", "ES", "FR", "GB", "JP", "US") },
    { "apple-tv-plus",  "Apple TV+",        "/platforms/apple-tv-plus.png",
      R ("AU", "CA", "DE", "FR", "GB", "US") },
    { "disney-plus",    "Disney+",          "/platforms/disney-plus.png",
      R ("AU", "BR", "CA", "DE", "ES", "FR", "GB", "IN", "JP", "US") },
    { "google-play",    "Google Play Movies", "/platforms/google-play.png",
      R ("AU", "BR", "CA", "DE", "ES", "FR", "GB", "IN", "JP", "US") },
    { "hulu",           "Hulu",             "/platforms/hulu.png",
      R ("JP", "US") },
    { "max",            "Max",              "/platforms/max.png",
      R ("BR", "ES", "US") },
    { "netflix",        "Netflix",          "/platforms/netflix.png",
      R ("AU", "BR", "CA", "DE", "ES", "FR", "GB", "IN", "JP", "US") },
    { "paramount-plus", "Paramount+",       "/platforms/paramount-plus.png",
      R ("AU", "CA", "GB", "US") },
    { "peacock",        "Peacock",          "/platforms/peacock.png",
      R ("US") },
    { "pluto-tv",       "Pluto TV",         "/platforms/pluto-tv.png",
      R ("BR", "DE", "ES", "FR", "GB", "US") },
    { "prime-video",    "Prime Video",      "/platforms/prime-video.png",
      R ("AU", "BR", "CA", "DE", "ES", "FR", "GB", "IN", "JP", "US") },
    { "tubi",           "Tubi",             "/platforms/tubi.png",
      R ("AU", "CA", "US") },
    { "youtube",        "YouTube",          "/platforms/youtube.png",
      R ("AU", "BR", "CA", "DE", "ES", "FR", "GB", "IN", "JP", "US") },
};

#define PLATFORMS_COUNT (sizeof s_platforms / sizeof s_platforms [0])

size_t
mg_platforms_count (void)
{
    return PLATFORMS_COUNT;
}

const mg_platform_info_t *
mg_platforms_at (size_t index)
{
    return index < PLATFORMS_COUNT ? &s_platforms [index] : NULL;
}

const mg_platform_info_t *
mg_platforms_find (const char *slug)
{
    for (size_t i = 0; slug && i < PLATFORMS_COUNT; i++)
        if (strcmp (s_platforms [i].slug, slug) == 0)
            return &s_platforms [i];
    return NULL;
}

bool
mg_platforms_serves (const mg_platform_info_t *platform, const char *region)
{
    assert (platform);
    for (const char *const *r = platform->regions; region && *r; r++)
        if (strcmp (*r, region) == 0)
            return true;
    return false;
}
