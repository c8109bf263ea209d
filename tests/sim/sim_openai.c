/*  OpenAI embeddings under /openai/v1: POST /embeddings {model, input,
    dimensions?, encoding_format?}. Shapes from OpenAI's OpenAPI document
    (github.com/openai/openai-openapi, CreateEmbeddingRequest/Response) and
    its error object {error:{message, type, param, code}}. Vectors are
    deterministic unit vectors: the sum of one pseudo-random ±1 vector per
    word, so texts sharing words point alike (cosine > 0) and equal texts
    give equal vectors.  */
#include "sim.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OAI_INPUTS_MAX      2048    //  OpenAI: at most 2048 inputs per request
#define OAI_INPUT_MAX       32768   //  bytes per input (≈ 8191 tokens)
#define OAI_BODY_MAX        (8 * 1024 * 1024)

typedef struct { const char *name; int dims; bool flexible; } s_model_t;

static const s_model_t s_models [] = {
    { "text-embedding-3-small", 1536, true },
    { "text-embedding-3-large", 3072, true },
    { "text-embedding-ada-002", 1536, false },
    { NULL, 0, false }
};

static void
s_error (sim_call_t *call, int status, const char *message, const char *type, const char *param, const char *code)
{
    sim_call_reply (call, status, json_pack ("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message,
        "type", type, "param", param ? json_string (param) : json_null (),
        "code", code ? json_string (code) : json_null ()));
}

static void
s_fail (sim_call_t *call, sim_fail_t why, const char *detail, int retry_after_s)
{
    char text [512];
    switch (why) {
        case SIM_FAIL_UNAUTHORIZED:
            s_error (call, 401, "You didn't provide an API key. You need to provide your API key in an "
                     "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain "
                     "an API key from https://platform.openai.com/account/api-keys.", "invalid_request_error", NULL, NULL);
            break;
        case SIM_FAIL_BAD_KEY:
            snprintf (text, sizeof text, "Incorrect API key provided: %.8s****. You can find your API key at "
                      "https://platform.openai.com/account/api-keys.", call->key);
            s_error (call, 401, text, "invalid_request_error", NULL, "invalid_api_key");
            break;
        case SIM_FAIL_NOT_FOUND:
            snprintf (text, sizeof text, "Invalid URL (%s /v1%.200s)", call->method, call->path);
            s_error (call, 404, text, "invalid_request_error", NULL, NULL);
            break;
        case SIM_FAIL_BAD_REQUEST:
            s_error (call, 400, detail ? detail : "Invalid request.", "invalid_request_error", NULL, NULL);
            break;
        case SIM_FAIL_RATE_LIMITED:
            snprintf (text, sizeof text, "Rate limit reached for text-embedding-3-small in organization org-sim on "
                      "requests per min (RPM): Limit 3000, Used 3000, Requested 1. Please try again in %ds. Visit "
                      "https://platform.openai.com/account/rate-limits to learn more.", retry_after_s);
            s_error (call, 429, text, "requests", "requests", "rate_limit_exceeded");
            sim_call_header (call, "Retry-After", "%d", retry_after_s);
            break;
        case SIM_FAIL_QUOTA:
            s_error (call, 429, "You exceeded your current quota, please check your plan and billing details. For more "
                     "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                     "insufficient_quota", NULL, "insufficient_quota");
            break;
        case SIM_FAIL_500:
            s_error (call, 500, "The server had an error while processing your request. Sorry about that!",
                     "server_error", NULL, NULL);
            break;
        case SIM_FAIL_502:
            sim_call_reply_text (call, 502, "text/html",
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n");
            break;
        case SIM_FAIL_503:
            s_error (call, 503, "The engine is currently overloaded, please try again later.", "server_error", NULL, NULL);
            break;
    }
}

static void
s_key (sim_call_t *call, char *key, size_t size)
{
    const char *auth = sim_call_request_header (call, "Authorization");
    snprintf (key, size, "%s", auth && strncmp (auth, "Bearer ", 7) == 0 ? auth + 7 : "");
}

static int
s_cost (const sim_call_t *call)
{
    (void) call;
    return 1;
}

static void
s_quota_headers (sim_call_t *call, long limit, long used, long reset_s)
{
    sim_call_header (call, "x-ratelimit-limit-requests", "%ld", limit);
    sim_call_header (call, "x-ratelimit-remaining-requests", "%ld", used < limit ? limit - used : 0);
    sim_call_header (call, "x-ratelimit-reset-requests", "%lds", reset_s);
}

//  Add text's vector to v (dims): one ±1 vector per word. Returns the word count.
static int
s_embed (const char *text, float *v, int dims)
{
    int words = 0;
    const char *p = text;
    while (*p) {
        while (*p && !isalnum ((unsigned char) *p))
            p++;
        const char *start = p;
        while (*p && isalnum ((unsigned char) *p))
            p++;
        if (p == start)
            break;
        char word [64];
        size_t n = (size_t) (p - start) < sizeof word - 1 ? (size_t) (p - start) : sizeof word - 1;
        for (size_t i = 0; i < n; i++)
            word [i] = (char) tolower ((unsigned char) start [i]);
        word [n] = '\0';
        uint64_t h = 0;
        for (int d = 0; d < dims; d++) {
            if (d % 64 == 0)
                h = sim_hash (word, d);
            v [d] += (h >> (d % 64)) & 1 ? 1.0f : -1.0f;
        }
        words++;
    }
    return words;
}

//  A unit vector of dims floats for text.
static json_t *
s_vector (const char *text, int dims)
{
    float *v = calloc ((size_t) dims, sizeof *v);
    if (!v)
        return NULL;
    if (s_embed (text, v, dims) == 0)
        for (int d = 0; d < dims; d++)      //  no words: the whole text's own vector
            v [d] = sim_hash (text, d) & 1 ? 1.0f : -1.0f;
    double norm = 0;
    for (int d = 0; d < dims; d++)
        norm += (double) v [d] * v [d];
    norm = sqrt (norm);
    json_t *out = json_array ();
    for (int d = 0; d < dims; d++)
        json_array_append_new (out, json_real ((double) (float) (v [d] / norm)));
    free (v);
    return out;
}

//  Rough token count as OpenAI's usage reports it (≈ 4 bytes a token).
static json_int_t
s_tokens (const char *text)
{
    size_t n = strlen (text);
    return (json_int_t) (n + 3) / 4;
}

static void
s_embeddings (sim_call_t *call)
{
    if (call->body_len > OAI_BODY_MAX) {
        s_fail (call, SIM_FAIL_BAD_REQUEST, "The request body is too large.", 0);
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb (call->body, call->body_len, 0, &jerr);
    if (!json_is_object (root)) {
        json_decref (root);
        s_error (call, 400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                 "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
                 "not valid JSON.)", "invalid_request_error", NULL, NULL);
        return;
    }
    const json_t *model = json_object_get (root, "model"), *input = json_object_get (root, "input");
    const json_t *dimensions = json_object_get (root, "dimensions");
    const json_t *format = json_object_get (root, "encoding_format");
    const s_model_t *m = NULL;
    for (const s_model_t *x = s_models; json_is_string (model) && x->name; x++)
        if (strcmp (x->name, json_string_value (model)) == 0)
            m = x;
    char text [300];
    size_t count = json_is_array (input) ? json_array_size (input) : 1;
    bool inputs_ok = json_is_string (input) || (json_is_array (input) && count > 0 && count <= OAI_INPUTS_MAX);
    for (size_t i = 0; inputs_ok && json_is_array (input) && i < count; i++)
        inputs_ok = json_is_string (json_array_get (input, i)) && json_string_length (json_array_get (input, i)) > 0
                 && json_string_length (json_array_get (input, i)) <= OAI_INPUT_MAX;
    if (json_is_string (input))
        inputs_ok = json_string_length (input) > 0 && json_string_length (input) <= OAI_INPUT_MAX;
    if (!json_is_string (model))
        s_error (call, 400, "you must provide a model parameter", "invalid_request_error", NULL, NULL);
    else
    if (!m) {
        snprintf (text, sizeof text, "The model `%.100s` does not exist or you do not have access to it.",
                  json_string_value (model));
        s_error (call, 404, text, "invalid_request_error", NULL, "model_not_found");
    }
    else
    if (!inputs_ok)
        s_error (call, 400, "'$.input' is invalid. Please check the API reference: "
                 "https://platform.openai.com/docs/api-reference.", "invalid_request_error", NULL, NULL);
    else
    if (dimensions && (!json_is_integer (dimensions) || json_integer_value (dimensions) < 1
                       || json_integer_value (dimensions) > m->dims || !m->flexible)) {
        snprintf (text, sizeof text, m->flexible ? "Invalid 'dimensions': integer below minimum value or above %d."
                                                 : "This model does not support specifying dimensions.", m->dims);
        s_error (call, 400, text, "invalid_request_error", "dimensions", m->flexible ? "integer_above_max_value" : NULL);
    }
    else
    if (format && !(json_is_string (format) && strcmp (json_string_value (format), "float") == 0))
        s_error (call, 400, "Only encoding_format \"float\" is served here.", "invalid_request_error",
                 "encoding_format", NULL);
    else {
        int dims = dimensions ? (int) json_integer_value (dimensions) : m->dims;
        json_t *data = json_array ();
        json_int_t tokens = 0;
        for (size_t i = 0; i < count; i++) {
            const char *one = json_string_value (json_is_array (input) ? json_array_get (input, i) : input);
            json_t *vector = s_vector (one, dims);
            tokens += s_tokens (one);
            json_array_append_new (data, json_pack ("{s:s, s:I, s:o}", "object", "embedding",
                                                    "index", (json_int_t) i, "embedding", vector));
        }
        sim_call_reply (call, 200, json_pack ("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data,
                                              "model", m->name, "usage", "prompt_tokens", tokens,
                                              "total_tokens", tokens));
    }
    json_decref (root);
}

static void
s_serve (sim_call_t *call)
{
    if (strcmp (call->path, "/embeddings") == 0 && strcmp (call->method, "POST") == 0)
        s_embeddings (call);
    else
        s_fail (call, SIM_FAIL_NOT_FOUND, NULL, 0);
}

const sim_provider_desc_t sim_openai_desc = {
    .name = "openai", .prefix = "/openai/v1", .etag = false,
    .serve = s_serve, .fail = s_fail, .key = s_key, .cost = s_cost,
    .quota_headers = s_quota_headers, .per_minute = false
};
