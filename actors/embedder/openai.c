/*  An OpenAI-compatible /v1/embeddings client (libcurl, one blocking
    transfer per call: each actor worker thread waits for its own batch).

    Retries: a transport failure (timeout, refused connection), 429 and any
    5xx are retried up to MG_OPENAI_ATTEMPTS times in all, sleeping a random
    time in [0, min(cap, base x 2^attempt)) ("full jitter": clients that
    failed together do not retry together), and never less than the
    server's Retry-After (seconds) when it sends one. A body that is not
    OpenAI's shape is retried too (a cut proxy reply); a 4xx other than 429
    is the caller's fault and is not.  */
#include "embedder.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BACKOFF_BASE_MS    250      //  first retry within a quarter second
#define BACKOFF_CAP_MS     8000     //  longest jittered sleep
#define RETRY_AFTER_MAX_S  60       //  a longer Retry-After fails the call instead of holding a worker
#define BODY_MAX           (64 << 20)  //  bytes of a response: 256 x 768 floats as JSON text is ~5 MB

struct embedder_openai_t {
    char *url;                      //  base_url + "/embeddings"
    char *auth;                     //  "Authorization: Bearer <key>" or NULL
    char *model;
    uint32_t dims;
    long timeout_ms;
    int attempts;
};

embedder_openai_t *
embedder_openai_new (const char *base_url, const char *key, const char *model, uint32_t dims)
{
    assert (base_url && key && model);
    embedder_openai_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    size_t len = strlen (base_url);
    while (len && base_url [len - 1] == '/')
        len--;
    self->url = malloc (len + sizeof "/embeddings");
    if (self->url)
        snprintf (self->url, len + sizeof "/embeddings", "%.*s/embeddings", (int) len, base_url);
    if (*key && (self->auth = malloc (strlen (key) + 32)))
        snprintf (self->auth, strlen (key) + 32, "Authorization: Bearer %s", key);
    self->model = strdup (model);
    self->dims = dims;
    self->timeout_ms = (long) mg_config_int ("MG_OPENAI_TIMEOUT_MS", 10000, 100, 600000);
    self->attempts = (int) mg_config_int ("MG_OPENAI_ATTEMPTS", 5, 1, 20);
    if (!self->url || !self->model || (*key && !self->auth))
        embedder_openai_destroy (&self);
    return self;
}

void
embedder_openai_destroy (embedder_openai_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        embedder_openai_t *self = *self_p;
        free (self->url);
        free (self->auth);
        free (self->model);
        free (self);
        *self_p = NULL;
    }
}

int
embedder_openai_parse (const char *body, size_t len, size_t count, uint32_t dims,
                       float *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (err, errlen, "response is not JSON: %s", jerr.text);
        return -1;
    }
    json_t *data = json_object_get (root, "data");
    int rc = 0;
    if (!json_is_array (data) || json_array_size (data) != count) {
        snprintf (err, errlen, "response has no data array of %zu embeddings", count);
        rc = -1;
    }
    bool *seen = rc == 0 ? calloc (count ? count : 1, sizeof *seen) : NULL;
    if (rc == 0 && !seen) {
        snprintf (err, errlen, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < count; i++) {
        json_t *item = json_array_get (data, i);
        json_t *index = json_object_get (item, "index");
        json_t *vector = json_object_get (item, "embedding");
        json_int_t at = json_is_integer (index) ? json_integer_value (index) : -1;
        if (at < 0 || (size_t) at >= count || seen [at]) {
            snprintf (err, errlen, "data[%zu] has no new index below %zu", i, count);
            rc = -1;
            break;
        }
        if (!json_is_array (vector) || json_array_size (vector) != dims) {
            snprintf (err, errlen, "data[%zu].embedding is not %u numbers", i, dims);
            rc = -1;
            break;
        }
        seen [at] = true;
        float *row = out + (size_t) at * dims;
        double norm = 0;
        for (uint32_t d = 0; rc == 0 && d < dims; d++) {
            json_t *v = json_array_get (vector, d);
            double x = json_is_number (v) ? json_number_value (v) : NAN;
            if (!isfinite (x) || fabs (x) > 1e6) {
                snprintf (err, errlen, "data[%zu].embedding[%u] is not a finite number", i, d);
                rc = -1;
            }
            row [d] = (float) x;
            norm += x * x;
        }
        //  text-embedding-3 vectors are unit length; make sure of it.
        if (rc == 0 && !(norm > 0)) {
            snprintf (err, errlen, "data[%zu].embedding is all zeros", i);
            rc = -1;
        }
        for (uint32_t d = 0; rc == 0 && d < dims; d++)
            row [d] = (float) (row [d] / sqrt (norm));
    }
    free (seen);
    json_decref (root);
    return rc;
}

//  Growable response body.
typedef struct {
    char *data;
    size_t len;
} s_body_t;

static size_t
s_on_body (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_body_t *body = arg;
    size_t n = size * nmemb;
    if (body->len + n > BODY_MAX)
        return 0;
    char *data = realloc (body->data, body->len + n + 1);
    if (!data)
        return 0;
    memcpy (data + body->len, ptr, n);
    body->data = data;
    body->len += n;
    data [body->len] = '\0';
    return n;
}

//  Retry-After in seconds from a header line, kept in *arg (long).
static size_t
s_on_header (char *line, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb;
    static const char name [] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp (line, name, sizeof name - 1) == 0) {
        char value [32];
        size_t len = n - (sizeof name - 1) < sizeof value - 1 ? n - (sizeof name - 1) : sizeof value - 1;
        memcpy (value, line + sizeof name - 1, len);
        value [len] = '\0';
        char *end;
        long seconds = strtol (value, &end, 10);
        if (end != value && seconds >= 0)
            *(long *) arg = seconds;
    }
    return n;
}

//  The JSON request body for texts; NULL when out of memory or a text is
//  not UTF-8.
static char *
s_request (embedder_openai_t *self, const char *const *texts, size_t count)
{
    json_t *input = json_array ();
    for (size_t i = 0; input && i < count; i++)
        if (json_array_append_new (input, json_string (texts [i]))) {
            json_decref (input);
            input = NULL;
        }
    json_t *root = input ? json_pack ("{s:s, s:o, s:i, s:s}", "model", self->model, "input", input,
                                      "dimensions", (int) self->dims, "encoding_format", "float") : NULL;
    char *text = root ? json_dumps (root, JSON_COMPACT) : NULL;
    json_decref (root);
    return text;
}

//  Sleep ms milliseconds.
static void
s_sleep_ms (long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) != 0)
        ;
}

int
embedder_openai_embed (embedder_openai_t *self, const char *const *texts, size_t count,
                       float *out, char *err, size_t errlen)
{
    assert (self && texts && out);
    char *request = s_request (self, texts, count);
    if (!request) {
        snprintf (err, errlen, "cannot build the request (out of memory, or a text is not UTF-8)");
        return -1;
    }
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    if (headers && self->auth)
        headers = curl_slist_append (headers, self->auth);
    int rc = curl && headers ? 1 : -1;
    if (rc < 0)
        snprintf (err, errlen, "cannot start an HTTP transfer");
    for (int attempt = 0; rc > 0 && attempt < self->attempts; attempt++) {
        s_body_t body = { 0 };
        long retry_after = -1, status = 0;
        curl_easy_reset (curl);
        curl_easy_setopt (curl, CURLOPT_URL, self->url);
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, request);
        curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, self->timeout_ms);
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
        curl_easy_setopt (curl, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
        curl_easy_setopt (curl, CURLOPT_HEADERDATA, &retry_after);
        CURLcode code = curl_easy_perform (curl);
        bool retry;
        if (code != CURLE_OK) {
            snprintf (err, errlen, "POST %s: %s", self->url, curl_easy_strerror (code));
            retry = true;
        }
        else {
            curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
            if (status == 200) {
                rc = embedder_openai_parse (body.data ? body.data : "", body.len, count, self->dims, out, err, errlen)
                   ? 1 : 0;
                retry = rc != 0;
            }
            else {
                snprintf (err, errlen, "POST %s: HTTP %ld", self->url, status);
                retry = status == 429 || status >= 500;
                if (!retry)
                    rc = -1;
            }
        }
        free (body.data);
        if (!retry || attempt + 1 == self->attempts)
            break;
        long cap = BACKOFF_CAP_MS;
        long ceiling = BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10);
        long wait = (long) randombytes_uniform ((uint32_t) (ceiling < cap ? ceiling : cap));
        if (retry_after > RETRY_AFTER_MAX_S) {
            snprintf (err, errlen, "POST %s: HTTP %ld, Retry-After %ld s", self->url, status, retry_after);
            break;
        }
        if (retry_after >= 0 && wait < retry_after * 1000)
            wait = retry_after * 1000;
        mg_warn ("embeddings call failed; retrying", "attempt=%d wait_ms=%ld reason=\"%s\"", attempt + 1, wait, err);
        s_sleep_ms (wait);
    }
    if (rc > 0)
        rc = -1;
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    free (request);
    return rc;
}
