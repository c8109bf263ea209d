/*  The LSA embedder (see mg_lsa.h). The model file is, in host byte order:
    "MGLSA002", uint32 dims, uint32 terms, then each term as a uint8
    length and its bytes (sorted), then terms floats
    of idf, then terms floats of row scale, then terms x dims int8 codes
    of projection (one row per term: element k is scale x code k).
    "MGLSA001" files (the same, with terms x dims floats of projection in
    place of the scales and codes) are still read, and coded as they load.

    Why codes: a model of 200,000 words x 512 dims is 413 MiB of floats in
    every replica and embedder; a byte per element and a float per row is
    a quarter of that. A row is coded against its own largest magnitude
    (scale = max |x| / 127), so the error of an element is at most half a
    step of its row; an embedding sums many rows of unrelated errors, and
    its cosine to the float one stays above 0.999 (tests/unit/test_lsa.c,
    docs/embedder.md).  */
#include "mg_lsa.h"
#include "mg_text.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LSA_MAGIC_FLOAT "MGLSA001"  //  rows of floats: read only
#define LSA_MAGIC       "MGLSA002"  //  rows of int8 codes and a scale each
#define LSA_DIMS_MAX    4096        //  a file claiming more is not ours
#define LSA_TERMS_MAX   (16u << 20)
#define LSA_CODE_MAX    127         //  codes are -127..127: symmetric, no -128

struct mg_lsa_t {
    char id [64];                   //  "lsa-<dims>d-<hash>": model and version
    uint32_t dims, count;
    char **terms;                   //  sorted
    float *idf;
    float *scale;                   //  per term: its row is scale x codes
    int8_t *codes;                  //  count x dims, row-major
    uint32_t *slots;                //  open addressing by hash of the term: index + 1, 0 empty
    size_t mask;                    //  slots - 1 (a power of two, at least twice the terms)
};

//  Emit every word of text (len bytes) with weight, and every pair of
//  adjacent words ("word word", a bigram) with weight too: a model trained
//  without bigrams has none of them, so they cost it a failed look-up.
static int
s_emit_text (const char *text, size_t len, double weight, mg_lsa_emit_fn emit, void *arg)
{
    char *norm = mg_text_normalize (text, len);
    if (!norm)
        return -1;
    int rc = 0;
    char pair [2 * MG_TEXT_WORD_BYTES + 2];
    const char *prev = NULL;
    for (char *save = NULL, *word = strtok_r (norm, " ", &save); rc == 0 && word; word = strtok_r (NULL, " ", &save)) {
        rc = emit (arg, word, weight);
        if (rc == 0 && prev && (size_t) snprintf (pair, sizeof pair, "%s %s", prev, word) < sizeof pair)
            rc = emit (arg, pair, weight);
        prev = word;
    }
    free (norm);
    return rc;
}

int
mg_lsa_doc_terms (const mg_doc_t *doc, mg_lsa_emit_fn emit, void *arg)
{
    assert (doc && emit);
    const struct {
        const char *text;
        double weight;
    } fields [] = {
        { doc->title, MG_LSA_FIELD_TITLE_WEIGHT }, { doc->original_title, MG_LSA_FIELD_TITLE_WEIGHT },
        { doc->alternates, MG_LSA_FIELD_TITLE_WEIGHT }, { doc->keywords, MG_LSA_FIELD_KEYWORDS_WEIGHT },
        { doc->genres, 1.0 }, { doc->tagline, 1.0 }, { doc->overview, 1.0 },
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++)
        if (fields [i].text && s_emit_text (fields [i].text, strlen (fields [i].text), fields [i].weight, emit, arg))
            return -1;
    return 0;
}

int
mg_lsa_text_terms (const char *text, mg_lsa_emit_fn emit, void *arg)
{
    assert (text && emit);
    return s_emit_text (text, strlen (text), 1.0, emit, arg);
}

//  Code row (dims floats) as codes and a scale: the largest magnitude
//  maps to LSA_CODE_MAX, every element to its nearest step.
static void
s_code_row (const float *row, uint32_t dims, float *scale, int8_t *codes)
{
    float most = 0;
    for (uint32_t k = 0; k < dims; k++)
        if (fabsf (row [k]) > most)
            most = fabsf (row [k]);
    *scale = most > 0 && isfinite (most) ? most / LSA_CODE_MAX : 0;
    for (uint32_t k = 0; k < dims; k++) {
        float step = *scale > 0 ? row [k] / *scale : 0;
        step = step > LSA_CODE_MAX ? LSA_CODE_MAX : step < -LSA_CODE_MAX ? -LSA_CODE_MAX : step;
        codes [k] = (int8_t) lrintf (isfinite (step) ? step : 0);
    }
}

int
mg_lsa_write (const char *path, char **terms, const float *idf, const float *proj,
                  uint32_t count, uint32_t dims, char *err, size_t errlen)
{
    char tmp [4096];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    float *scale = malloc ((count ? count : 1) * sizeof *scale);
    int8_t *codes = malloc (dims ? dims : 1);
    FILE *file = scale && codes ? fopen (tmp, "wb") : NULL;
    if (!file) {
        snprintf (err, errlen, "cannot write %s: %s", tmp, scale && codes ? strerror (errno) : "out of memory");
        free (scale);
        free (codes);
        return -1;
    }
    bool ok = fwrite (LSA_MAGIC, 1, 8, file) == 8 && fwrite (&dims, sizeof dims, 1, file) == 1
           && fwrite (&count, sizeof count, 1, file) == 1;
    for (uint32_t i = 0; ok && i < count; i++) {
        size_t len = strlen (terms [i]);
        uint8_t n = (uint8_t) (len > 255 ? 255 : len);
        ok = fwrite (&n, 1, 1, file) == 1 && fwrite (terms [i], 1, n, file) == n;
    }
    //  The scales come before the codes: code each row twice rather than
    //  hold a second copy of the projection.
    for (uint32_t i = 0; ok && i < count; i++)
        s_code_row (proj + (size_t) i * dims, dims, &scale [i], codes);
    ok = ok && fwrite (idf, sizeof *idf, count, file) == count && fwrite (scale, sizeof *scale, count, file) == count;
    for (uint32_t i = 0; ok && i < count; i++) {
        float unused;
        s_code_row (proj + (size_t) i * dims, dims, &unused, codes);
        ok = fwrite (codes, 1, dims, file) == dims;
    }
    free (scale);
    free (codes);
    ok = fclose (file) == 0 && ok;
    if (!ok || rename (tmp, path)) {
        snprintf (err, errlen, "cannot write %s: %s", path, strerror (errno));
        remove (tmp);
        return -1;
    }
    return 0;
}

//  FNV-1a 64 of len bytes, continuing from hash.
static uint64_t
s_fnv (uint64_t hash, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ p [i]) * 0x100000001b3ULL;
    return hash;
}

//  The model's id: its dims and a hash of its words, idf and coded
//  projection, so that two files with the same content have the same id
//  (a float file and the coded file written from the same floats too).
static void
s_model_id (mg_lsa_t *self)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (uint32_t i = 0; i < self->count; i++)
        hash = s_fnv (hash, self->terms [i], strlen (self->terms [i]) + 1);
    hash = s_fnv (hash, self->idf, self->count * sizeof *self->idf);
    hash = s_fnv (hash, self->scale, self->count * sizeof *self->scale);
    hash = s_fnv (hash, self->codes, (size_t) self->count * self->dims);
    snprintf (self->id, sizeof self->id, "lsa-%ud-%016llx", self->dims, (unsigned long long) hash);
}

//  Read the projection of an MGLSA001 file (rows of floats), coding each
//  row as it comes: one row is the only float copy ever held.
static bool
s_read_float_rows (mg_lsa_t *self, FILE *file)
{
    float *row = malloc (self->dims * sizeof *row);
    bool ok = row != NULL;
    for (uint32_t i = 0; ok && i < self->count; i++) {
        ok = fread (row, sizeof *row, self->dims, file) == self->dims;
        if (ok)
            s_code_row (row, self->dims, &self->scale [i], self->codes + (size_t) i * self->dims);
    }
    free (row);
    return ok;
}

//  Hash of a term (FNV-1a 64 of its bytes) for the slots.
static uint64_t
s_term_hash (const char *term)
{
    return s_fnv (0xcbf29ce484222325ULL, term, strlen (term));
}

//  Fill the slots: every word of a text and every pair of adjacent words
//  is looked up, a hash probe or two instead of a binary search's ~18
//  string comparisons (the look-ups were a tenth of a replica's build).
static int
s_slots_fill (mg_lsa_t *self)
{
    size_t room = 16;
    while (room < 2 * (size_t) self->count)
        room *= 2;
    self->slots = calloc (room, sizeof *self->slots);
    if (!self->slots)
        return -1;
    self->mask = room - 1;
    for (uint32_t i = 0; i < self->count; i++) {
        size_t at = s_term_hash (self->terms [i]) & self->mask;
        while (self->slots [at])
            at = (at + 1) & self->mask;
        self->slots [at] = i + 1;
    }
    return 0;
}

//  Index of term in the model, -1 when it has none.
static int64_t
s_term_index (const mg_lsa_t *self, const char *term)
{
    for (size_t at = s_term_hash (term) & self->mask; self->slots [at]; at = (at + 1) & self->mask)
        if (strcmp (self->terms [self->slots [at] - 1], term) == 0)
            return self->slots [at] - 1;
    return -1;
}

mg_lsa_t *
mg_lsa_load (const char *path, char *err, size_t errlen)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    mg_lsa_t *self = calloc (1, sizeof *self);
    char magic [8];
    bool ok = self && fread (magic, 1, 8, file) == 8;
    bool coded = ok && memcmp (magic, LSA_MAGIC, 8) == 0;
    if (ok && !coded && memcmp (magic, LSA_MAGIC_FLOAT, 8) != 0) {
        if (memcmp (magic, "MGLSA", 5) == 0)
            snprintf (err, errlen, "%s is an LSA model of a format this build does not read (%.8s; it reads "
                      LSA_MAGIC " and " LSA_MAGIC_FLOAT "): retrain it with this build's mg-embed-train", path, magic);
        else
            snprintf (err, errlen, "%s is not an LSA model (mg-embed-train writes one)", path);
        fclose (file);
        mg_lsa_destroy (&self);
        return NULL;
    }
    ok = ok && fread (&self->dims, sizeof self->dims, 1, file) == 1
            && fread (&self->count, sizeof self->count, 1, file) == 1
            && self->dims > 0 && self->dims <= LSA_DIMS_MAX && self->count <= LSA_TERMS_MAX;
    if (ok) {
        size_t rows = self->count ? self->count : 1;
        self->terms = calloc (rows, sizeof *self->terms);
        self->idf = malloc (rows * sizeof *self->idf);
        self->scale = malloc (rows * sizeof *self->scale);
        self->codes = malloc (rows * self->dims);
        ok = self->terms && self->idf && self->scale && self->codes;
    }
    for (uint32_t i = 0; ok && i < self->count; i++) {
        uint8_t n;
        ok = fread (&n, 1, 1, file) == 1 && (self->terms [i] = malloc ((size_t) n + 1)) != NULL
          && fread (self->terms [i], 1, n, file) == n;
        if (ok)
            self->terms [i][n] = '\0';
        ok = ok && (i == 0 || strcmp (self->terms [i - 1], self->terms [i]) < 0);
    }
    ok = ok && fread (self->idf, sizeof *self->idf, self->count, file) == self->count;
    if (coded)
        ok = ok && fread (self->scale, sizeof *self->scale, self->count, file) == self->count
                && fread (self->codes, self->dims, self->count, file) == self->count;
    else
        ok = ok && s_read_float_rows (self, file);
    fclose (file);
    if (!ok) {
        snprintf (err, errlen, "%s is not a readable LSA model (mg-embed-train writes one)", path);
        mg_lsa_destroy (&self);
    }
    else
    if (s_slots_fill (self)) {
        snprintf (err, errlen, "out of memory loading %s", path);
        mg_lsa_destroy (&self);
    }
    else
        s_model_id (self);
    return self;
}

void
mg_lsa_destroy (mg_lsa_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mg_lsa_t *self = *self_p;
        for (uint32_t i = 0; self->terms && i < self->count; i++)
            free (self->terms [i]);
        free (self->terms);
        free (self->idf);
        free (self->scale);
        free (self->codes);
        free (self->slots);
        free (self);
        *self_p = NULL;
    }
}

const char *
mg_lsa_id (const mg_lsa_t *self)
{
    assert (self);
    return self->id;
}

uint32_t
mg_lsa_dims (const mg_lsa_t *self)
{
    assert (self);
    return self->dims;
}

int
mg_lsa_bag_add (mg_lsa_bag_t *bag, size_t from, uint32_t term, double weight, bool *added)
{
    for (size_t i = from; i < bag->count; i++)
        if (bag->index [i] == term) {
            bag->tf [i] += weight;
            if (added)
                *added = false;
            return 0;
        }
    if (bag->count == bag->room) {
        size_t room = bag->room ? bag->room * 2 : 64;
        uint32_t *index = realloc (bag->index, room * sizeof *index);
        if (index)
            bag->index = index;
        double *tf = index ? realloc (bag->tf, room * sizeof *tf) : NULL;
        if (!tf)
            return -1;
        bag->tf = tf;
        bag->room = room;
    }
    bag->index [bag->count] = term;
    bag->tf [bag->count++] = weight;
    if (added)
        *added = true;
    return 0;
}

void
mg_lsa_bag_free (mg_lsa_bag_t *bag)
{
    free (bag->index);
    free (bag->tf);
    memset (bag, 0, sizeof *bag);
}

//  Term frequencies of one text, by term index of the model.
typedef struct {
    const mg_lsa_t *lsa;
    mg_lsa_bag_t terms;
} s_bag_t;

static int
s_bag_add (void *arg, const char *term, double weight)
{
    s_bag_t *bag = arg;
    int64_t at = s_term_index (bag->lsa, term);
    return at < 0 ? 0 : mg_lsa_bag_add (&bag->terms, 0, (uint32_t) at, weight, NULL);
}

//  Project bag (sublinear tf x idf, unit length) into out, unit length.
static int
s_project (const mg_lsa_t *self, s_bag_t *bag, float *out)
{
    memset (out, 0, self->dims * sizeof *out);
    double norm = 0;
    mg_lsa_bag_t *terms = &bag->terms;
    for (size_t i = 0; i < terms->count; i++) {
        terms->tf [i] = (1 + log (terms->tf [i])) * self->idf [terms->index [i]];
        norm += terms->tf [i] * terms->tf [i];
    }
    if (!terms->count || norm <= 0)
        return 1;
    for (size_t i = 0; i < terms->count; i++) {
        //  The row decoded as it is summed: its scale folded into the weight.
        float w = (float) terms->tf [i] * self->scale [terms->index [i]];
        const int8_t *row = self->codes + (size_t) terms->index [i] * self->dims;
        for (uint32_t k = 0; k < self->dims; k++)
            out [k] += w * (float) row [k];
    }
    double len = 0;
    for (uint32_t k = 0; k < self->dims; k++)
        len += (double) out [k] * out [k];
    if (len <= 0)
        return 1;
    float scale = (float) (1 / sqrt (len));
    for (uint32_t k = 0; k < self->dims; k++)
        out [k] *= scale;
    return 0;
}

int
mg_lsa_embed_doc (const mg_lsa_t *self, const mg_doc_t *doc, float *out)
{
    assert (self && doc && out);
    s_bag_t bag = { .lsa = self };
    int rc = mg_lsa_doc_terms (doc, s_bag_add, &bag) ? -1 : s_project (self, &bag, out);
    mg_lsa_bag_free (&bag.terms);
    return rc;
}

int
mg_lsa_embed_text (const mg_lsa_t *self, const char *text, float *out)
{
    assert (self && text && out);
    s_bag_t bag = { .lsa = self };
    int rc = mg_lsa_text_terms (text, s_bag_add, &bag) ? -1 : s_project (self, &bag, out);
    mg_lsa_bag_free (&bag.terms);
    return rc;
}
