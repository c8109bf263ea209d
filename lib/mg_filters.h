/*  Checks of the request values every list endpoint takes (catalog discover,
    search): regions, platform slugs and paging, with errors naming the parameter.  */
#ifndef MG_FILTERS_H_INCLUDED
#define MG_FILTERS_H_INCLUDED

#include "mg_actor.h"
#include "mg_uuid.h"
#include <stdbool.h>
#include <stdint.h>

//  Upper-cased ISO 3166-1 alpha-2 code of text (two ASCII letters, any
//  case) into out. Returns 0, or -1 (with err naming param).
int mg_filters_region (const char *text, char out [3], const char *param, mg_error_t *err);

//  The region whose offers list items show (offers_region=, architecture §4):
//  offers_region when given ("all", any case: every region, *region_out
//  NULL), else the first of the count fallbacks (each upper-case, or NULL
//  when not set) that is set. out holds the region *region_out points to.
//  Returns 0, or -1 (err naming offers_region) when offers_region is neither.
int mg_filters_offers_region (const char *offers_region, const char *const *fallbacks, size_t count,
                              char out [3], const char **region_out, mg_error_t *err);

//  Check page (from 1, default 1) and per_page (1..MG_PER_PAGE_MAX,
//  default MG_PER_PAGE_DEFAULT) and compute the row offset.
//  Returns 0, or -1 with err naming the parameter at fault.
int mg_filters_paging (bool has_page, uint64_t page, bool has_per_page, uint64_t per_page,
                      uint64_t *page_out, uint64_t *per_page_out, uint64_t *offset_out,
                      mg_error_t *err);

//  Check the shape of a platform slug (letters, digits and '-', not first,
//  at most MG_PLATFORM_MAX bytes). Returns 0, or -1 with err naming param.
int mg_filters_platform (const char *slug, const char *param, mg_error_t *err);

//  Lower-cased canonical UUID text of text (8-4-4-4-12 hex digits, any
//  case) into out. Returns 0, or -1 (with err naming param).
int mg_filters_uuid (const char *text, char out [37], const char *param, mg_error_t *err);

//  Check available= (absent, or "mine" from a signed-in caller): *mine says
//  whether to keep only titles on the caller's services. Returns 0, or -1
//  with err (INVALID_PARAMETER, or UNAUTHORIZED for an anonymous caller).
int mg_filters_available (const char *available, bool signed_in, bool *mine, mg_error_t *err);

//  The platform slugs services (count) as a JSON array text, for SQL
//  parameters. Caller frees; NULL when out of memory.
char *mg_filters_services_json (char **services, size_t count);

#define MG_PLATFORM_MAX      64     //  bytes of a platform slug (mg_offer platform)
#define MG_PER_PAGE_DEFAULT  20     //  architecture §4: list endpoints
#define MG_PER_PAGE_MAX      100    //  architecture §4; also mg_content_list's results limit

#endif
