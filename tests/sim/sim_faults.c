/*  Fault lists per provider and the decoders of fault settings.  */
#include "sim_faults.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_FAULT_COUNT_MAX     1000000000L   //  "count" bound
#define SIM_RETRY_AFTER_MAX_S   86400         //  a day
#define SIM_ADMIN_BODY_MAX      4096          //  admin bodies are a handful of fields

struct sim_faults_t {
    sim_fault_t faults [SIM_PROVIDER_COUNT][SIM_FAULTS_MAX];
    int count [SIM_PROVIDER_COUNT];
    uint64_t state;                 //  xorshift64* state
};

static const char *const s_provider_names [SIM_PROVIDER_COUNT] = {
    "tmdb", "sa", "watchmode", "youtube", "openai"
};
static const char *const s_kind_names [SIM_FAULT_KIND_COUNT] = {
    "429", "500", "502", "503", "timeout", "slow", "malformed", "truncated", "wrong_types", "quota"
};

sim_faults_t *
sim_faults_new (uint64_t seed)
{
    sim_faults_t *self = calloc (1, sizeof *self);
    if (self)
        self->state = seed ? seed : 0x2545F4914F6CDD1DULL;
    return self;
}

void
sim_faults_destroy (sim_faults_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int
sim_faults_add (sim_faults_t *self, const sim_fault_t *fault)
{
    assert (self);
    assert (fault->provider < SIM_PROVIDER_COUNT);
    int *count = &self->count [fault->provider];
    if (*count >= SIM_FAULTS_MAX)
        return -1;
    self->faults [fault->provider][(*count)++] = *fault;
    return 0;
}

void
sim_faults_clear (sim_faults_t *self, sim_provider_t provider)
{
    assert (self);
    for (int p = 0; p < SIM_PROVIDER_COUNT; p++)
        if (provider == SIM_PROVIDER_COUNT || (int) provider == p)
            self->count [p] = 0;
}

//  A uniform draw in [0, 1) (xorshift64*).
static double
s_uniform (sim_faults_t *self)
{
    self->state ^= self->state >> 12;
    self->state ^= self->state << 25;
    self->state ^= self->state >> 27;
    return (double) ((self->state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

bool
sim_faults_draw (sim_faults_t *self, sim_provider_t provider, sim_fault_t *hit)
{
    assert (self);
    sim_fault_t *faults = self->faults [provider];
    for (int i = 0; i < self->count [provider]; i++) {
        sim_fault_t *fault = &faults [i];
        if (fault->rate < 1.0 && s_uniform (self) >= fault->rate)
            continue;
        *hit = *fault;
        if (fault->count > 0 && --fault->count == 0) {
            memmove (fault, fault + 1, (size_t) (self->count [provider] - i - 1) * sizeof *fault);
            self->count [provider]--;
        }
        return true;
    }
    return false;
}

const char *
sim_provider_name (sim_provider_t provider)
{
    return provider < SIM_PROVIDER_COUNT ? s_provider_names [provider] : NULL;
}

//  Index of the name of len bytes in names, or -1.
static int
s_lookup (const char *const *names, int count, const char *name, size_t len)
{
    for (int i = 0; i < count; i++)
        if (strlen (names [i]) == len && memcmp (names [i], name, len) == 0)
            return i;
    return -1;
}

int
sim_provider_from_name (const char *name, size_t len)
{
    return s_lookup (s_provider_names, SIM_PROVIDER_COUNT, name, len);
}

const char *
sim_fault_kind_name (sim_fault_kind_t kind)
{
    return kind < SIM_FAULT_KIND_COUNT ? s_kind_names [kind] : NULL;
}

int
sim_fault_kind_from_name (const char *name, size_t len)
{
    return s_lookup (s_kind_names, SIM_FAULT_KIND_COUNT, name, len);
}

//  A fault with the defaults of every optional field.
static void
s_fault_defaults (sim_fault_t *fault)
{
    memset (fault, 0, sizeof *fault);
    fault->rate = 1.0;
    fault->count = -1;
    fault->retry_after_s = SIM_FAULT_RETRY_AFTER_S;
    fault->delay_ms = SIM_FAULT_DELAY_MS;
}

//  An optional integer field of object within [min, max] into value.
static int
s_int_field (const json_t *object, const char *name, long min, long max, long *value,
             char *err, size_t errlen)
{
    const json_t *field = json_object_get (object, name);
    if (!field)
        return 0;
    if (!json_is_integer (field) || json_integer_value (field) < min || json_integer_value (field) > max) {
        snprintf (err, errlen, "%s: an integer from %ld to %ld is required", name, min, max);
        return -1;
    }
    *value = (long) json_integer_value (field);
    return 0;
}

//  The admin body as a JSON object, or NULL with a reason.
static json_t *
s_load_object (const char *text, size_t len, char *err, size_t errlen)
{
    if (len > SIM_ADMIN_BODY_MAX) {
        snprintf (err, errlen, "body: larger than %d bytes", SIM_ADMIN_BODY_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object (root)) {
        snprintf (err, errlen, "body: not a JSON object (%s)", root ? "another JSON type" : jerr.text);
        json_decref (root);
        return NULL;
    }
    return root;
}

int
sim_fault_from_json (const char *text, size_t len, sim_fault_t *fault, char *err, size_t errlen)
{
    s_fault_defaults (fault);
    json_t *root = s_load_object (text, len, err, errlen);
    if (!root)
        return -1;
    int rc = -1;
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value) {
        static const char *const known [] = { "provider", "fault", "rate", "count", "retry_after", "delay_ms" };
        if (s_lookup (known, 6, key, strlen (key)) < 0) {
            snprintf (err, errlen, "%.64s: unknown field", key);
            goto done;
        }
    }
    const json_t *provider = json_object_get (root, "provider");
    const json_t *kind = json_object_get (root, "fault");
    const json_t *rate = json_object_get (root, "rate");
    int p = json_is_string (provider)
          ? sim_provider_from_name (json_string_value (provider), json_string_length (provider)) : -1;
    int k = json_is_string (kind)
          ? sim_fault_kind_from_name (json_string_value (kind), json_string_length (kind)) : -1;
    long count = -1, retry_after = SIM_FAULT_RETRY_AFTER_S, delay_ms = SIM_FAULT_DELAY_MS;
    if (p < 0)
        snprintf (err, errlen, "provider: one of tmdb, sa, watchmode, youtube, openai is required");
    else
    if (k < 0)
        snprintf (err, errlen, "fault: one of 429, 500, 502, 503, timeout, slow, malformed, "
                               "truncated, wrong_types, quota is required");
    else
    if (rate && !(json_is_number (rate) && json_number_value (rate) >= 0 && json_number_value (rate) <= 1))
        snprintf (err, errlen, "rate: a number from 0 to 1 is required");
    else
    if (s_int_field (root, "count", 1, SIM_FAULT_COUNT_MAX, &count, err, errlen) == 0
    &&  s_int_field (root, "retry_after", 0, SIM_RETRY_AFTER_MAX_S, &retry_after, err, errlen) == 0
    &&  s_int_field (root, "delay_ms", 0, SIM_LATENCY_MAX_MS, &delay_ms, err, errlen) == 0) {
        fault->provider = (sim_provider_t) p;
        fault->kind = (sim_fault_kind_t) k;
        fault->rate = rate ? json_number_value (rate) : 1.0;
        fault->count = count;
        fault->retry_after_s = (int) retry_after;
        fault->delay_ms = (int) delay_ms;
        rc = 0;
    }
done:
    json_decref (root);
    return rc;
}

int
sim_fault_from_spec (const char *spec, sim_fault_t *fault, char *err, size_t errlen)
{
    s_fault_defaults (fault);
    const char *colon = strchr (spec, ':');
    int p = colon ? sim_provider_from_name (spec, (size_t) (colon - spec)) : -1;
    if (p < 0) {
        snprintf (err, errlen, "--fault %.64s: provider:kind[:rate] with a known provider is required", spec);
        return -1;
    }
    const char *kind = colon + 1;
    const char *rate = strchr (kind, ':');
    int k = sim_fault_kind_from_name (kind, rate ? (size_t) (rate - kind) : strlen (kind));
    if (k < 0) {
        snprintf (err, errlen, "--fault %.64s: unknown fault kind", spec);
        return -1;
    }
    if (rate) {
        char *end;
        double value = strtod (rate + 1, &end);
        if (end == rate + 1 || *end || !(value >= 0 && value <= 1)) {
            snprintf (err, errlen, "--fault %.64s: rate must be a number from 0 to 1", spec);
            return -1;
        }
        fault->rate = value;
    }
    fault->provider = (sim_provider_t) p;
    fault->kind = (sim_fault_kind_t) k;
    return 0;
}

int
sim_latency_from_json (const char *text, size_t len, long *ms, sim_provider_t *provider,
                       char *err, size_t errlen)
{
    json_t *root = s_load_object (text, len, err, errlen);
    if (!root)
        return -1;
    int rc = -1;
    const json_t *name = json_object_get (root, "provider");
    *provider = SIM_PROVIDER_COUNT;
    *ms = -1;
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
        if (strcmp (key, "ms") != 0 && strcmp (key, "provider") != 0) {
            snprintf (err, errlen, "%.64s: unknown field", key);
            goto done;
        }
    if (!json_object_get (root, "ms"))
        snprintf (err, errlen, "ms: an integer from 0 to %d is required", SIM_LATENCY_MAX_MS);
    else
    if (s_int_field (root, "ms", 0, SIM_LATENCY_MAX_MS, ms, err, errlen) != 0)
        ;
    else
    if (name && !(json_is_string (name)
                  && sim_provider_from_name (json_string_value (name), json_string_length (name)) >= 0))
        snprintf (err, errlen, "provider: one of tmdb, sa, watchmode, youtube, openai is required");
    else {
        if (name)
            *provider = (sim_provider_t) sim_provider_from_name (json_string_value (name), json_string_length (name));
        rc = 0;
    }
done:
    json_decref (root);
    return rc;
}
