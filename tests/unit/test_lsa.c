/*  The LSA model (lib/mg_lsa.c): a written model read back embeds known
    words, its rows coded as 8 bits and a scale embed texts nearly as the
    floats do, older files of float rows still load (and code to the same
    model), and a file of another format is refused with its reason.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_lsa.h"

#define TERMS   2000        //  words of the synthetic model
#define DIMS    256
#define TEXTS   500         //  texts compared, 1-24 words each
#define WORD_LEN 4          //  "qaaa".."qczx": fixed width, so generated in sorted order

//  A synthetic model: words, idf in [1, 5], rows of roughly normal
//  elements (a sum of uniforms) of varied magnitude, as an SVD's are.
typedef struct {
    char *terms [TERMS];
    char words [TERMS][WORD_LEN + 2];
    float idf [TERMS];
    float *proj;
} s_model_t;

static uint64_t s_rand_state = 88172645463325252ULL;

//  xorshift64: a fixed sequence, so every run tests the same model.
static double
s_rand (void)
{
    s_rand_state ^= s_rand_state << 13;
    s_rand_state ^= s_rand_state >> 7;
    s_rand_state ^= s_rand_state << 17;
    return (double) (s_rand_state >> 11) / (double) (1ULL << 53);
}

static void
s_model_make (s_model_t *model)
{
    for (int i = 0; i < TERMS; i++) {
        int n = i;
        model->words [i][0] = 'q';
        for (int c = WORD_LEN - 1; c >= 1; c--, n /= 26)
            model->words [i][c] = (char) ('a' + n % 26);
        model->words [i][WORD_LEN] = '\0';
        model->terms [i] = model->words [i];
        model->idf [i] = (float) (1 + 4 * s_rand ());
    }
    model->proj = malloc ((size_t) TERMS * DIMS * sizeof *model->proj);
    assert_non_null (model->proj);
    for (int i = 0; i < TERMS; i++) {
        double magnitude = 0.01 + s_rand ();
        for (int k = 0; k < DIMS; k++)
            model->proj [(size_t) i * DIMS + k] = (float) (magnitude * (s_rand () + s_rand () + s_rand () - 1.5));
    }
}

//  The float embedding of words (count of them, indexes into the model):
//  sublinear tf x idf, summed rows, unit length (as mg_lsa.c computes).
static void
s_float_embed (const s_model_t *model, const int *words, int count, double *out)
{
    int tf [TERMS] = { 0 };
    for (int i = 0; i < count; i++)
        tf [words [i]]++;
    memset (out, 0, DIMS * sizeof *out);
    for (int t = 0; t < TERMS; t++)
        if (tf [t]) {
            double w = (1 + log (tf [t])) * model->idf [t];
            for (int k = 0; k < DIMS; k++)
                out [k] += w * model->proj [(size_t) t * DIMS + k];
        }
    double len = 0;
    for (int k = 0; k < DIMS; k++)
        len += out [k] * out [k];
    for (int k = 0; k < DIMS; k++)
        out [k] /= sqrt (len);
}

static void
s_temp_path (char *path)
{
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);
}

static long
s_file_size (const char *path)
{
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    return (long) st.st_size;
}

//  Write model in the older format (MGLSA001: rows of floats) to path.
static void
s_write_float_file (const s_model_t *model, const char *path)
{
    FILE *file = fopen (path, "wb");
    assert_non_null (file);
    uint32_t dims = DIMS, count = TERMS;
    assert_int_equal (fwrite ("MGLSA001", 1, 8, file), 8);
    assert_int_equal (fwrite (&dims, sizeof dims, 1, file), 1);
    assert_int_equal (fwrite (&count, sizeof count, 1, file), 1);
    for (int i = 0; i < TERMS; i++) {
        uint8_t n = (uint8_t) strlen (model->terms [i]);
        assert_int_equal (fwrite (&n, 1, 1, file), 1);
        assert_int_equal (fwrite (model->terms [i], 1, n, file), n);
    }
    assert_int_equal (fwrite (model->idf, sizeof *model->idf, TERMS, file), TERMS);
    assert_int_equal (fwrite (model->proj, sizeof *model->proj * DIMS, TERMS, file), TERMS);
    assert_int_equal (fclose (file), 0);
}

//  A synthetic model written twice: coded (mg_lsa_write) at path, as
//  float rows (the older format) at floats (both mkstemp templates).
static void
s_model_files (s_model_t *model, char *path, char *floats)
{
    char err [256] = "";
    s_model_make (model);
    s_temp_path (path);
    s_temp_path (floats);
    assert_int_equal (mg_lsa_write (path, model->terms, model->idf, model->proj, TERMS, DIMS, err, sizeof err), 0);
    s_write_float_file (model, floats);
}

static void
test_lsa_model_round_trip_embeds_known_words (void **state)
{
    (void) state;
    char path [] = "/tmp/test_lsa_XXXXXX";
    s_temp_path (path);
    //  Two topics: "earthquake"/"quake" on axis 0, "space" on axis 1.
    char *terms [] = { "earthquake", "quake", "space" };
    float idf [] = { 1, 1, 2 };
    float proj [] = { 1, 0, 1, 0, 0, 1 };
    char err [256] = "";
    assert_int_equal (mg_lsa_write (path, terms, idf, proj, 3, 2, err, sizeof err), 0);
    mg_lsa_t *lsa = mg_lsa_load (path, err, sizeof err);
    assert_non_null (lsa);
    assert_int_equal (mg_lsa_dims (lsa), 2);
    float v [2];
    assert_int_equal (mg_lsa_embed_text (lsa, "Quake!", v), 0);
    assert_true (fabsf (v [0] - 1) < 1e-6f && fabsf (v [1]) < 1e-6f);
    assert_int_equal (mg_lsa_embed_text (lsa, "EARTHQUAKE in space", v), 0);
    assert_true (v [1] > v [0] && fabsf (v [0] * v [0] + v [1] * v [1] - 1) < 1e-5f);     //  idf 2 > 1
    assert_int_equal (mg_lsa_embed_text (lsa, "nothing known", v), 1);
    mg_doc_t titled = { .id = "x", .title = "Quake", .overview = "space" };
    mg_doc_t told = { .id = "y", .title = "Other", .overview = "quake space" };
    float w [2];
    assert_int_equal (mg_lsa_embed_doc (lsa, &titled, v), 0);
    assert_int_equal (mg_lsa_embed_doc (lsa, &told, w), 0);
    assert_true (v [0] > w [0]);        //  a word of the title counts twice
    mg_lsa_destroy (&lsa);
    assert_null (lsa);
    remove (path);
}

static void
test_lsa_coded_rows_embed_texts_nearly_as_floats_do (void **state)
{
    (void) state;
    s_model_t model;
    char path [] = "/tmp/test_lsa_XXXXXX", floats [] = "/tmp/test_lsa_XXXXXX", err [256] = "";
    s_model_files (&model, path, floats);
    //  A byte a dimension and a float a row: about a quarter of the floats.
    assert_true (s_file_size (path) * 10 < s_file_size (floats) * 3);
    mg_lsa_t *lsa = mg_lsa_load (path, err, sizeof err);
    assert_non_null (lsa);
    double least = 1, sum = 0, ref [DIMS];
    float got [DIMS];
    for (int t = 0; t < TEXTS; t++) {
        int words [24], count = 1 + (int) (s_rand () * 24);
        char text [24 * (WORD_LEN + 1) + 1] = "";
        for (int i = 0; i < count; i++) {
            //  Some words twice, so that tf > 1 is compared too.
            words [i] = i > 0 && s_rand () < 0.2 ? words [i - 1] : (int) (s_rand () * TERMS);
            strcat (text, model.terms [words [i]]);
            strcat (text, " ");
        }
        s_float_embed (&model, words, count, ref);
        assert_int_equal (mg_lsa_embed_text (lsa, text, got), 0);
        double cosine = 0;
        for (int k = 0; k < DIMS; k++)
            cosine += ref [k] * got [k];
        least = cosine < least ? cosine : least;
        sum += cosine;
    }
    printf ("coded vs float embeddings of %d texts: cosine min %.6f mean %.6f\n", TEXTS, least, sum / TEXTS);
    assert_true (least > 0.999);
    assert_true (sum / TEXTS > 0.9995);
    mg_lsa_destroy (&lsa);
    free (model.proj);
    remove (path);
    remove (floats);
}

static void
test_lsa_float_model_files_load_as_the_coded_model (void **state)
{
    (void) state;
    s_model_t model;
    char path [] = "/tmp/test_lsa_XXXXXX", floats [] = "/tmp/test_lsa_XXXXXX", err [256] = "";
    s_model_files (&model, path, floats);
    mg_lsa_t *coded = mg_lsa_load (path, err, sizeof err);
    mg_lsa_t *old = mg_lsa_load (floats, err, sizeof err);
    assert_non_null (coded);
    assert_non_null (old);
    //  The same model: the same id, the same vectors, bit for bit.
    assert_string_equal (mg_lsa_id (coded), mg_lsa_id (old));
    float a [DIMS], b [DIMS];
    assert_int_equal (mg_lsa_embed_text (coded, "qaab qabc qaab qbcd", a), 0);
    assert_int_equal (mg_lsa_embed_text (old, "qaab qabc qaab qbcd", b), 0);
    assert_memory_equal (a, b, sizeof a);
    mg_lsa_destroy (&coded);
    mg_lsa_destroy (&old);
    free (model.proj);
    remove (path);
    remove (floats);
}

static void
test_lsa_refuses_other_formats_with_the_reason (void **state)
{
    (void) state;
    char path [] = "/tmp/test_lsa_XXXXXX";
    s_temp_path (path);
    char err [512] = "";
    FILE *file = fopen (path, "wb");
    assert_non_null (file);
    fputs ("not a model", file);
    fclose (file);
    assert_null (mg_lsa_load (path, err, sizeof err));
    assert_non_null (strstr (err, "not an LSA model"));
    //  A later format: named, with what to do.
    file = fopen (path, "wb");
    assert_non_null (file);
    fputs ("MGLSA009 and more", file);
    fclose (file);
    assert_null (mg_lsa_load (path, err, sizeof err));
    assert_non_null (strstr (err, "MGLSA009"));
    assert_non_null (strstr (err, "retrain"));
    //  A coded file cut short.
    char *terms [] = { "alpha", "beta" };
    float idf [] = { 1, 1 }, proj [] = { 1, 2, 3, 4, 5, 6 };
    assert_int_equal (mg_lsa_write (path, terms, idf, proj, 2, 3, err, sizeof err), 0);
    assert_int_equal (truncate (path, s_file_size (path) - 1), 0);
    assert_null (mg_lsa_load (path, err, sizeof err));
    assert_non_null (strstr (err, "not a readable LSA model"));
    remove (path);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_lsa_model_round_trip_embeds_known_words),
        cmocka_unit_test (test_lsa_coded_rows_embed_texts_nearly_as_floats_do),
        cmocka_unit_test (test_lsa_float_model_files_load_as_the_coded_model),
        cmocka_unit_test (test_lsa_refuses_other_formats_with_the_reason),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
