/*  What the simulator's server hands a provider module for one request, and
    what a provider module tells the server about itself (one entry of the
    provider table in main.c).  */
#ifndef SIM_H_INCLUDED
#define SIM_H_INCLUDED

#include "sim_catalog.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct evkeyvalq;

typedef enum {
    SIM_TMDB, SIM_SA, SIM_WATCHMODE, SIM_YOUTUBE, SIM_OPENAI, SIM_PROVIDER_COUNT
} sim_provider_t;

//  Errors a provider answers in its own words.
typedef enum {
    SIM_FAIL_UNAUTHORIZED,          //  missing key
    SIM_FAIL_BAD_KEY,               //  a key the provider rejects
    SIM_FAIL_NOT_FOUND,
    SIM_FAIL_BAD_REQUEST,           //  detail names the parameter
    SIM_FAIL_RATE_LIMITED,          //  429, short-term rate
    SIM_FAIL_QUOTA,                 //  the key's quota is spent
    SIM_FAIL_500,
    SIM_FAIL_502,
    SIM_FAIL_503
} sim_fail_t;

#define SIM_HEADERS_MAX  8
#define SIM_HEADER_SIZE  160

//  One request to a provider and its answer.
typedef struct {
    const sim_catalog_t *catalog;
    const char *method;             //  "GET", "POST", …
    const char *path;               //  below the provider's prefix, still encoded
    const struct evkeyvalq *query;  //  decoded query parameters
    const struct evkeyvalq *headers;//  request headers
    const char *body;               //  request body (NUL-terminated), "" when none
    size_t body_len;
    const char *key;                //  the API key the request carried, "" when none
    //  The answer.
    int status;
    json_t *reply;                  //  JSON body (owned), or
    char *text;                     //  a raw body (owned) with its content type
    const char *content_type;
    char header_names [SIM_HEADERS_MAX][48];
    char header_values [SIM_HEADERS_MAX][SIM_HEADER_SIZE];
    int header_count;
} sim_call_t;

typedef struct {
    const char *name;               //  "tmdb", as the admin API names it
    const char *prefix;             //  path prefix = the provider's base URL
    bool etag;                      //  answers carry ETag and honour If-None-Match
    //  Serve call (status and reply set); the key was checked already.
    void (*serve) (sim_call_t *call);
    //  Set call's answer to the provider's own error body for why.
    void (*fail) (sim_call_t *call, sim_fail_t why, const char *detail, int retry_after_s);
    //  The API key the request carries ("" when none), into key.
    void (*key) (sim_call_t *call, char *key, size_t size);
    //  Quota units this call costs (YouTube counts methods unequally).
    int (*cost) (const sim_call_t *call);
    //  Headers reporting a quota of limit units, used so far, window ends in reset_s.
    void (*quota_headers) (sim_call_t *call, long limit, long used, long reset_s);
    bool per_minute;                //  the quota is a per-minute rate, not a daily quota
} sim_provider_desc_t;

extern const sim_provider_desc_t sim_tmdb_desc;
extern const sim_provider_desc_t sim_sa_desc;
extern const sim_provider_desc_t sim_watchmode_desc;
extern const sim_provider_desc_t sim_youtube_desc;
extern const sim_provider_desc_t sim_openai_desc;

//  Add a response header (formatted); ignored past SIM_HEADERS_MAX.
void sim_call_header (sim_call_t *call, const char *name, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  A query parameter, NULL when absent.
const char *sim_call_param (const sim_call_t *call, const char *name);

//  A request header, NULL when absent.
const char *sim_call_request_header (const sim_call_t *call, const char *name);

//  Set the answer: status and a JSON body (takes ownership).
void sim_call_reply (sim_call_t *call, int status, json_t *body);

//  Set the answer: status and a raw body of content_type (copied).
void sim_call_reply_text (sim_call_t *call, int status, const char *content_type, const char *text);

//  Parse a positive integer parameter (1..max); def when absent; -1 when
//  present but not such an integer.
long sim_call_int (const sim_call_t *call, const char *name, long def, long max);

#endif
