/*  12-factor configuration: a variable from the process environment always
    wins; otherwise the value from the defaults file (MG_CONFIG_FILE, else
    config/default.env under the working directory); otherwise the fallback. */
#ifndef MG_CONFIG_H_INCLUDED
#define MG_CONFIG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  Value of name, or fallback. The returned string lives until exit.
const char *mg_config_str (const char *name, const char *fallback);

//  Integer value of name, or fallback when unset or not a clean integer in
//  [min, max] (a bad value is logged once, never silently used).
int64_t mg_config_int (const char *name, int64_t fallback, int64_t min, int64_t max);

//  Parse redis://host[:port][/db] into host (host_size bytes), *port
//  (default 6379) and *db (default 0, at most 15). Returns 0 or -1.
int mg_config_redis_url (const char *url, char *host, size_t host_size, int *port, int *db);

#endif
