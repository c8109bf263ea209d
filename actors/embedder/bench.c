/*  mg-embedder-bench: what a search replica would pay per query embedding.

        mg-embedder-bench [COUNT] < texts (one per line)

    1. "local": the LSA fold-in in process (mg_lsa.c, MG_EMBED_MODEL), what a
       replica does today;
    2. "bus": embedder.embed of one text through the broker at MG_BROKER to
       a running mg-embedder, each text new to the cache (Redis miss, model,
       Redis write);
    3. "cached": the same texts again (answered from Redis).
    Prints p50, p99 and mean in milliseconds for each, and the ratios.  */
#include "embedder.h"
#include "mg_lsa.h"
#include "mg_client.h"
#include "mg_config.h"
#include "mg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT_DEFAULT 2000
#define TEXT_MAX      512           //  a query's bytes (search.query q)

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

//  Print p50, p99 and mean of samples (ms); returns the p50.
static double
s_report (const char *name, double *samples, size_t n)
{
    qsort (samples, n, sizeof *samples, s_cmp);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += samples [i];
    printf ("%-7s n=%zu p50_ms=%.4f p99_ms=%.4f mean_ms=%.4f\n", name, n, samples [n / 2], samples [n * 99 / 100],
            sum / (double) n);
    return samples [n / 2];
}

int
main (int argc, char **argv)
{
    mg_log_init ("embedder-bench");
    size_t count = argc > 1 ? (size_t) atol (argv [1]) : COUNT_DEFAULT;
    char (*texts) [TEXT_MAX] = calloc (count ? count : 1, sizeof *texts);
    double *samples = calloc (count ? count : 1, sizeof *samples);
    size_t n = 0;
    while (texts && n < count && fgets (texts [n], TEXT_MAX - 32, stdin)) {
        texts [n][strcspn (texts [n], "\n")] = '\0';
        if (*texts [n])
            n++;
    }
    char reason [512];
    mg_lsa_t *lsa = mg_lsa_load (mg_config_str ("MG_EMBED_MODEL", "var/lsa.model"), reason, sizeof reason);
    mg_client_t *client = mg_client_new (mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"));
    if (n < 10 || !samples || !lsa || !client) {
        fprintf (stderr, "mg-embedder-bench: need >= 10 texts on stdin, a model (%s) and a broker\n", lsa ? "ok" : reason);
        return 1;
    }
    float *vec = malloc (mg_lsa_dims (lsa) * sizeof *vec);
    for (size_t i = 0; i < n; i++) {
        double t = s_now_ms ();
        mg_lsa_embed_text (lsa, texts [i], vec);
        samples [i] = s_now_ms () - t;
    }
    double local = s_report ("local", samples, n);
    //  A word the model does not know makes each text new to the cache
    //  without changing its vector.
    char salt [32];
    snprintf (salt, sizeof salt, " zq%ldx", (long) time (NULL));
    for (size_t i = 0; i < n; i++)
        strcat (texts [i], salt);
    double p50 [2];
    for (int pass = 0; pass < 2; pass++) {
        size_t ok = 0;
        for (size_t i = 0; i < n; i++) {
            char *one = texts [i];
            mg_embed_request_t req = { .texts = &one, .texts_count = 1 };
            mg_embed_reply_t rep = { 0 };
            mg_error_t err = { 0 };
            double t = s_now_ms ();
            int rc = mg_client_call (client, "embedder.embed", &mg_embed_request_desc, &req, &mg_embed_reply_desc,
                                     &rep, 5000, &err);
            double took = s_now_ms () - t;
            if (rc == 0 && rep.vectors_count == 1 && rep.vectors [0].cached == (pass == 1))
                samples [ok++] = took;
            mg_msg_clear (&mg_embed_reply_desc, &rep);
            mg_msg_clear (&mg_error_desc, &err);
        }
        if (ok < 10) {
            fprintf (stderr, "mg-embedder-bench: embedder.embed failed (%zu of %zu answered as expected)\n", ok, n);
            return 1;
        }
        p50 [pass] = s_report (pass ? "cached" : "bus", samples, ok);
    }
    printf ("p50 ratios: bus/local=%.1fx cached/local=%.1fx\n", p50 [0] / local, p50 [1] / local);
    free (vec);
    free (texts);
    free (samples);
    mg_lsa_destroy (&lsa);
    mg_client_destroy (&client);
    return 0;
}
