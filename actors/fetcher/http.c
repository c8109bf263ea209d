/*  libcurl multi engine. Bodies are bounded (HTTP_BODY_MAX), headers are
    read for ETag, Retry-After and the providers' rate-limit headers
    (RapidAPI's X-RateLimit-Requests-Remaining / -Reset, the common
    X-RateLimit-Remaining / -Reset), which feed adaptive pacing.  */
#include "http.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_BODY_MAX     (8 * 1024 * 1024)   //  a provider body above 8 MB is not one we asked for
#define HTTP_CONNECT_MS   5000
#define RESET_EPOCH_MIN   1000000000LL        //  a reset above this is a unix time, not seconds

struct http_engine_t {
    CURLM *multi;
    int running;
    int max_transfers;
    int timeout_ms;
};

http_engine_t *
http_engine_new (int max_transfers, int timeout_ms)
{
    assert (max_transfers > 0);
    http_engine_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->multi = curl_multi_init ();
    if (!self->multi) {
        free (self);
        return NULL;
    }
    self->max_transfers = max_transfers;
    self->timeout_ms = timeout_ms;
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, (long) max_transfers);
    return self;
}

void
http_engine_destroy (http_engine_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        http_engine_t *self = *self_p;
        curl_multi_cleanup (self->multi);
        free (self);
        *self_p = NULL;
    }
}

//  Body bytes, appended up to HTTP_BODY_MAX (beyond it the transfer fails).
static size_t
s_on_body (char *data, size_t size, size_t count, void *arg)
{
    http_transfer_t *t = arg;
    size_t n = size * count;
    if (t->len + n + 1 > HTTP_BODY_MAX)
        return 0;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *body = realloc (t->body, cap);
        if (!body)
            return 0;
        t->body = body;
        t->cap = cap;
    }
    memcpy (t->body + t->len, data, n);
    t->len += n;
    t->body [t->len] = '\0';
    return n;
}

//  Copy a header's value (trimmed) into out if line is "name: value".
static bool
s_header (const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t name_len = strlen (name);
    if (len <= name_len || strncasecmp (line, name, name_len) != 0 || line [name_len] != ':')
        return false;
    const char *value = line + name_len + 1;
    const char *end = line + len;
    while (value < end && isspace ((unsigned char) *value))
        value++;
    while (end > value && isspace ((unsigned char) end [-1]))
        end--;
    size_t n = (size_t) (end - value);
    if (n >= outlen)
        n = outlen - 1;
    memcpy (out, value, n);
    out [n] = '\0';
    return true;
}

//  A number header value, or -1.
static int64_t
s_number (const char *text)
{
    char *end;
    long long v = strtoll (text, &end, 10);
    return end == text || *end || v < 0 ? -1 : (int64_t) v;
}

//  One response header line.
static size_t
s_on_header (char *line, size_t size, size_t count, void *arg)
{
    http_transfer_t *t = arg;
    size_t n = size * count;
    char value [64];
    if (n >= 5 && strncmp (line, "HTTP/", 5) == 0) {
        //  A new response (after a redirect or 100): forget the last one's.
        t->etag [0] = t->retry_after [0] = '\0';
        t->rl_remaining = t->rl_reset_ms = -1;
    }
    else if (s_header (line, n, "ETag", t->etag, sizeof t->etag))
        ;
    else if (s_header (line, n, "Retry-After", t->retry_after, sizeof t->retry_after))
        ;
    else if (s_header (line, n, "X-RateLimit-Requests-Remaining", value, sizeof value)
         ||  s_header (line, n, "X-RateLimit-Remaining", value, sizeof value))
        t->rl_remaining = s_number (value);
    else if (s_header (line, n, "X-RateLimit-Requests-Reset", value, sizeof value)
         ||  s_header (line, n, "X-RateLimit-Reset", value, sizeof value)) {
        int64_t reset = s_number (value);
        if (reset >= RESET_EPOCH_MIN)
            reset -= (int64_t) time (NULL);
        t->rl_reset_ms = reset >= 0 ? reset * 1000 : -1;
    }
    return n;
}

void
http_transfer_reset (http_transfer_t *t)
{
    assert (t);
    free (t->body);
    t->body = NULL;
    t->len = t->cap = 0;
    t->status = 0;
    t->etag [0] = t->retry_after [0] = t->error [0] = '\0';
    t->rl_remaining = t->rl_reset_ms = -1;
}

int
http_engine_start (http_engine_t *self, http_transfer_t *t)
{
    assert (self && t);
    if (self->running >= self->max_transfers)
        return -1;
    http_transfer_reset (t);
    t->easy = curl_easy_init ();
    if (!t->easy)
        return -1;
    t->list = NULL;
    for (int i = 0; i < t->header_count && i < HTTP_HEADERS_MAX; i++) {
        struct curl_slist *list = curl_slist_append (t->list, t->headers [i]);
        if (!list) {
            curl_slist_free_all (t->list);
            curl_easy_cleanup (t->easy);
            t->list = NULL;
            t->easy = NULL;
            return -1;
        }
        t->list = list;
    }
    CURL *e = t->easy;
    curl_easy_setopt (e, CURLOPT_URL, t->url);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, t->list);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt (e, CURLOPT_PRIVATE, t);
    curl_easy_setopt (e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, (long) HTTP_CONNECT_MS);
    curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt (e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (e, CURLOPT_USERAGENT, "mg-fetcher/1");
    if (curl_multi_add_handle (self->multi, e) != CURLM_OK) {
        curl_slist_free_all (t->list);
        curl_easy_cleanup (e);
        t->list = NULL;
        t->easy = NULL;
        return -1;
    }
    self->running++;
    return 0;
}

void
http_engine_cancel (http_engine_t *self, http_transfer_t *t)
{
    assert (self && t);
    if (t->easy) {
        curl_multi_remove_handle (self->multi, t->easy);
        curl_easy_cleanup (t->easy);
        curl_slist_free_all (t->list);
        t->easy = NULL;
        t->list = NULL;
        self->running--;
    }
    http_transfer_reset (t);
}

int
http_engine_running (http_engine_t *self)
{
    assert (self);
    return self->running;
}

int
http_engine_poll (http_engine_t *self, int wait_ms, http_done_fn *done, void *arg)
{
    assert (self && done);
    int still;
    if (curl_multi_perform (self->multi, &still) != CURLM_OK)
        return -1;
    if (self->running > 0 && wait_ms > 0) {
        if (curl_multi_poll (self->multi, NULL, 0, wait_ms, NULL) != CURLM_OK)
            return -1;
        if (curl_multi_perform (self->multi, &still) != CURLM_OK)
            return -1;
    }
    int finished = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        http_transfer_t *t = NULL;
        curl_easy_getinfo (e, CURLINFO_PRIVATE, (char **) &t);
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &t->status);
        else {
            t->status = 0;
            if (!t->error [0])
                snprintf (t->error, sizeof t->error, "%s", curl_easy_strerror (msg->data.result));
        }
        curl_multi_remove_handle (self->multi, e);
        curl_easy_cleanup (e);
        curl_slist_free_all (t->list);
        t->easy = NULL;
        t->list = NULL;
        self->running--;
        finished++;
        done (arg, t);
    }
    return finished;
}
