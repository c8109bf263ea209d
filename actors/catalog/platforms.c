/*  catalog.platforms: the canonical platforms (lib/mg_platforms.c), paged
    by the list contract. The table is compiled in, so the answer needs no
    PostgreSQL round trip.  */
#include "catalog.h"
#include "mg_platforms.h"

#include <jansson.h>

//  The platform as a catalog.platform JSON object (NULL when out of memory).
static json_t *
s_platform_json (const mg_platform_info_t *platform)
{
    json_t *regions = json_array ();
    for (const char *const *r = platform->regions; regions && *r; r++)
        json_array_append_new (regions, json_string (*r));
    return json_pack ("{s:s, s:s, s:s, s:o*}", "slug", platform->slug, "name", platform->name,
                      "logo_path", platform->logo, "regions", regions);
}

int
catalog_on_platforms (void *state, const void *req, void *rep, mg_error_t *err)
{
    (void) state;
    const mg_platforms_request_t *request = req;
    char region [3] = "";
    uint64_t page, per_page, offset;
    if ((request->region && mg_filters_region (request->region, region, "region", err))
    ||  mg_filters_paging (request->has_page, request->page, request->has_per_page, request->per_page,
                           &page, &per_page, &offset, err))
        return -1;
    json_t *results = json_array ();
    uint64_t total = 0;
    for (size_t i = 0; results && i < mg_platforms_count (); i++) {
        const mg_platform_info_t *platform = mg_platforms_at (i);
        if (*region && !mg_platforms_serves (platform, region))
            continue;
        if (total >= offset && total - offset < per_page
        &&  json_array_append_new (results, s_platform_json (platform)))
            break;
        total++;
    }
    json_t *reply = json_pack ("{s:o*, s:I, s:I, s:I}", "results", results, "total", (json_int_t) total,
                               "page", (json_int_t) page, "per_page", (json_int_t) per_page);
    char reason [MG_MSG_ERR_LEN] = "out of memory";
    int rc = reply ? mg_msg_from_json (&mg_platforms_reply_desc, reply, rep, reason, sizeof reason) : -1;
    json_decref (reply);
    if (rc)
        return mg_actor_fail (err, "INTERNAL", NULL, "the platforms could not be encoded: %s", reason);
    return 0;
}
