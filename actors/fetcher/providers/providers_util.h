/*  Helpers shared by the provider parsers (providers.c).  */
#ifndef PROVIDERS_UTIL_H_INCLUDED
#define PROVIDERS_UTIL_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  Raw.availability string limits (messages/schema.def).
#define AV_PLATFORM_MAX  64
#define AV_REGION_MAX    64
#define AV_TYPE_MAX      32
#define AV_QUALITY_MAX   32
#define AV_CURRENCY_MAX  8
#define AV_LINK_MAX      2048
#define AV_OFFERS_MAX    512        //  raw.record availability list limit

//  Parse body as JSON (duplicate keys rejected). NULL with a reason.
json_t *provider_load (const char *body, size_t len, const char *what, char *err, size_t errlen);

//  Format a reason into err; returns -1.
int provider_fail (char *err, size_t errlen, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  obj.name as a string of at most max bytes: *value NULL when absent or
//  null; -1 with a reason when of another type or too long.
int provider_opt_str (const json_t *obj, const char *name, size_t max, const char **value,
                      const char *what, char *err, size_t errlen);

//  As provider_opt_str, and absent or empty is an error too.
int provider_req_str (const json_t *obj, const char *name, size_t max, const char **value,
                      const char *what, char *err, size_t errlen);

//  snprintf into url; -1 when it does not fit.
int provider_url (char *url, size_t len, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  May id go into a URL path as it is?
bool provider_id_safe (const char *id);

#endif
