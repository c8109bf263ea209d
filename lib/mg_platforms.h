/*  The canonical streaming platforms: the slugs offers, filters and the
    services preference use, with a display name, a logo path and the
    regions each one serves (GET /api/v1/platforms).  */
#ifndef MG_PLATFORMS_H_INCLUDED
#define MG_PLATFORMS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *slug;               //  lower-case, [a-z0-9-]: offers' platform
    const char *name;               //  display name
    const char *logo;               //  logo path, relative to MG_IMAGE_BASE
    const char *const *regions;     //  ISO 3166-1 alpha-2 codes, NULL-terminated, sorted
} mg_platform_info_t;

//  Number of canonical platforms, and platform i in slug order (NULL past the end).
size_t mg_platforms_count (void);
const mg_platform_info_t *mg_platforms_at (size_t index);

//  The platform of slug (exact, lower-case), or NULL.
const mg_platform_info_t *mg_platforms_find (const char *slug);

//  True when platform serves region (two upper-case letters).
bool mg_platforms_serves (const mg_platform_info_t *platform, const char *region);

#endif
