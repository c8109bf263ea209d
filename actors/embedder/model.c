/*  The embedder's model: the LSA model trained by mg-embed-train (the
    default: no network, the code search replicas share, lib/mg_lsa.c) or an
    OpenAI-compatible /v1/embeddings.  */
#include "embedder.h"
#include "mg_lsa.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OPENAI_DIMS_DEFAULT 768     //  architecture: 768-d vectors (text-embedding-3-small shortened)
#define DOC_TEXT_MAX        8192    //  bytes of a title's text sent to OpenAI (~2k tokens, of 8k allowed)

struct embedder_model_t {
    char id [128];
    uint32_t dims;
    mg_lsa_t *lsa;              //  backend B, or
    embedder_openai_t *openai;      //  backend A
};

embedder_model_t *
embedder_model_new (char *err, size_t errlen)
{
    embedder_model_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    const char *backend = mg_config_str ("MG_EMBED_BACKEND", "lsa");
    if (strcmp (backend, "lsa") == 0) {
        self->lsa = mg_lsa_load (mg_config_str ("MG_EMBED_MODEL", "var/lsa.model"), err, errlen);
        if (self->lsa) {
            self->dims = mg_lsa_dims (self->lsa);
            snprintf (self->id, sizeof self->id, "%s", mg_lsa_id (self->lsa));
        }
    }
    else
    if (strcmp (backend, "openai") == 0) {
        const char *model = mg_config_str ("MG_OPENAI_MODEL", "text-embedding-3-small");
        self->dims = (uint32_t) mg_config_int ("MG_EMBED_DIMS", OPENAI_DIMS_DEFAULT, 1, 4096);
        self->openai = embedder_openai_new (mg_config_str ("MG_OPENAI_BASE_URL", "https://api.openai.com/v1"),
                                            mg_config_str ("OPENAI_API_KEY", ""), model, self->dims);
        snprintf (self->id, sizeof self->id, "openai-%.64s-%ud", model, self->dims);
        if (!self->openai)
            snprintf (err, errlen, "cannot create the OpenAI client");
    }
    else
        snprintf (err, errlen, "MG_EMBED_BACKEND must be lsa or openai, not '%.32s'", backend);
    if (!self->lsa && !self->openai)
        embedder_model_destroy (&self);
    return self;
}

void
embedder_model_destroy (embedder_model_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        mg_lsa_destroy (&(*self_p)->lsa);
        embedder_openai_destroy (&(*self_p)->openai);
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
embedder_model_id (const embedder_model_t *self)
{
    assert (self);
    return self->id;
}

uint32_t
embedder_model_dims (const embedder_model_t *self)
{
    assert (self);
    return self->dims;
}

//  OpenAI for count texts; an empty text is not sent (the API refuses it).
static int
s_openai (embedder_model_t *self, const char *const *texts, size_t count, float *out, bool *ok,
          char *err, size_t errlen)
{
    const char **sent = calloc (count ? count : 1, sizeof *sent);
    size_t *at = calloc (count ? count : 1, sizeof *at);
    float *vectors = malloc ((count ? count : 1) * self->dims * sizeof *vectors);
    int rc = sent && at && vectors ? 0 : -1;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        ok [i] = false;
        memset (out + i * self->dims, 0, self->dims * sizeof *out);
        bool blank = true;
        for (const char *p = texts [i]; blank && *p; p++)
            blank = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
        if (!blank) {
            at [n] = i;
            sent [n++] = texts [i];
        }
    }
    if (rc)
        snprintf (err, errlen, "out of memory");
    else
    if (n)
        rc = embedder_openai_embed (self->openai, sent, n, vectors, err, errlen);
    for (size_t j = 0; rc == 0 && j < n; j++) {
        memcpy (out + at [j] * self->dims, vectors + j * self->dims, self->dims * sizeof *out);
        ok [at [j]] = true;
    }
    free (sent);
    free (at);
    free (vectors);
    return rc;
}

int
embedder_model_embed (embedder_model_t *self, const char *const *texts, size_t count,
                      float *out, bool *ok, char *err, size_t errlen)
{
    assert (self && texts && out && ok);
    if (self->openai)
        return s_openai (self, texts, count, out, ok, err, errlen);
    for (size_t i = 0; i < count; i++) {
        int e = mg_lsa_embed_text (self->lsa, texts [i], out + i * self->dims);
        if (e < 0) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        ok [i] = e == 0;
    }
    return 0;
}

//  Append "label: text\n" to buf (size) at *used when text is set.
static void
s_field (char *buf, size_t size, size_t *used, const char *label, const char *text)
{
    if (!text || !*text || *used >= size)
        return;
    int n = snprintf (buf + *used, size - *used, "%s: %s\n", label, text);
    if (n > 0 && *used + (size_t) n < size)
        *used += (size_t) n;
    else {
        //  Cut: drop a trailing partial UTF-8 sequence (JSON wants whole ones).
        *used = strlen (buf);
        while (*used > 0 && ((unsigned char) buf [*used - 1] & 0x80))
            (*used)--;
        buf [*used] = '\0';
        *used = size;
    }
}

int
embedder_model_embed_docs (embedder_model_t *self, const mg_doc_t *docs, size_t count,
                           float *out, bool *ok, char *err, size_t errlen)
{
    assert (self && docs && out && ok);
    if (self->lsa) {
        for (size_t i = 0; i < count; i++) {
            int e = mg_lsa_embed_doc (self->lsa, &docs [i], out + i * self->dims);
            if (e < 0) {
                snprintf (err, errlen, "out of memory");
                return -1;
            }
            ok [i] = e == 0;
        }
        return 0;
    }
    //  A model that reads: the fields as labelled lines.
    char **texts = calloc (count ? count : 1, sizeof *texts);
    int rc = texts ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        texts [i] = malloc (DOC_TEXT_MAX);
        if (!texts [i]) {
            rc = -1;
            break;
        }
        size_t used = 0;
        texts [i][0] = '\0';
        const mg_doc_t *d = &docs [i];
        s_field (texts [i], DOC_TEXT_MAX, &used, "Title", d->title);
        s_field (texts [i], DOC_TEXT_MAX, &used, "Original title", d->original_title);
        s_field (texts [i], DOC_TEXT_MAX, &used, "Genres", d->genres);
        s_field (texts [i], DOC_TEXT_MAX, &used, "Tagline", d->tagline);
        s_field (texts [i], DOC_TEXT_MAX, &used, "Keywords", d->keywords);
        s_field (texts [i], DOC_TEXT_MAX, &used, "Overview", d->overview);
    }
    if (rc)
        snprintf (err, errlen, "out of memory");
    else
        rc = s_openai (self, (const char *const *) texts, count, out, ok, err, errlen);
    for (size_t i = 0; texts && i < count; i++)
        free (texts [i]);
    free (texts);
    return rc;
}
