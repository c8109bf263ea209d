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

//  Endpoint lists: MG_BROKER, MG_EVENTS and MG_EVENTS_PUB may name the two
//  brokers of a pair, "tcp://a:5555,tcp://b:5555" (docs/deploy.md).
#define MG_ENDPOINT_MAX  256        //  bytes of one endpoint, NUL included
#define MG_ENDPOINTS_MAX 2          //  a Binary Star pair

//  Copy endpoint index of the comma-separated list into out (size bytes).
//  Returns how many endpoints list names (at most MG_ENDPOINTS_MAX; empty
//  items are skipped), so index may be checked against it; out is "" when
//  index is past the end or the item does not fit.
size_t mg_config_endpoint (const char *list, size_t index, char *out, size_t size);

//  Connect socket (a zsock_t or a libzmq socket) to every endpoint of list.
//  0, or -1 (logged) when one cannot be connected.
int mg_config_connect (void *socket, const char *list);

#endif
