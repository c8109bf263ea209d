/*  mg-embed-train from a file of source records (--from, --every) and the
    record helpers it shares with mg-search-bench (record.c): a model comes
    out of a JSON Lines file without PostgreSQL, of the dimensions asked;
    every K-th title gives another model; a line that is not a JSON object,
    or a file that is not there, fails the run and writes no model. A
    joined field that does not fit keeps whole items only.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_lsa.h"
#include "mg_test.h"
#include "record.h"

#define TITLES 80           //  enough that every word is held by 2 titles and under half of them
#define DIMS   "4"

static const char *s_words [] = {
    "river", "night", "glass", "harbour", "meadow", "keeper", "storm", "light", "orchard", "lane",
    "winter", "signal", "copper", "garden", "hollow", "ember"
};
#define WORDS (sizeof s_words / sizeof s_words [0])

static char s_dir [] = "/tmp/mg-train-file-XXXXXX";

//  A JSON Lines file of TITLES records at path; bad_line (1-based, 0 none)
//  replaced by text that is not JSON. 0 or -1.
static int
s_write_records (const char *path, int bad_line)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    for (int i = 0; i < TITLES; i++) {
        const char *a = s_words [i % WORDS], *b = s_words [(i * 7 + 3) % WORDS], *c = s_words [(i * 5 + 1) % WORDS];
        if (i + 1 == bad_line)
            fprintf (file, "not json at all\n");
        else
            fprintf (file, "{\"title\":\"%s %s\",\"original_title\":\"%s %s\",\"tagline\":\"the %s\","
                           "\"overview\":\"A %s by the %s and the %s.\",\"keywords\":[\"%s\",\"%s\"],"
                           "\"genres\":[{\"id\":878,\"name\":\"Science Fiction\"},{\"id\":18,\"name\":\"Drama\"}]}\n",
                     a, b, a, b, c, a, b, c, b, c);
    }
    return fclose (file) == 0 ? 0 : -1;
}

static int
s_setup (void **state)
{
    (void) state;
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    char command [128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    return system (command) == 0 ? 0 : -1;
}

//  Train from path with every ("1", "2", ...) into model. True when it exited 0.
static bool
s_train (const char *path, const char *every, const char *model)
{
    return mg_test_run ("mg-embed-train", NULL,
                        (char *const []) { "--from", (char *) path, "--every", (char *) every,
                                           "--dims", DIMS, "--out", (char *) model, NULL });
}

static void
test_a_model_comes_from_a_file_of_records (void **state)
{
    (void) state;
    char records [256], model [256], half [256];
    snprintf (records, sizeof records, "%s/titles.jsonl", s_dir);
    snprintf (model, sizeof model, "%s/all.model", s_dir);
    snprintf (half, sizeof half, "%s/half.model", s_dir);
    assert_int_equal (s_write_records (records, 0), 0);
    assert_true (s_train (records, "1", model));
    assert_true (s_train (records, "2", half));
    char err [256];
    mg_lsa_t *all = mg_lsa_load (model, err, sizeof err);
    mg_lsa_t *every2 = mg_lsa_load (half, err, sizeof err);
    assert_non_null (all);
    assert_non_null (every2);
    assert_int_equal (mg_lsa_dims (all), 4);
    assert_int_equal (mg_lsa_dims (every2), 4);
    //  Half the titles: other document frequencies, another model.
    assert_string_not_equal (mg_lsa_id (all), mg_lsa_id (every2));
    //  A title's words embed to a unit vector.
    float vector [4];
    assert_int_equal (mg_lsa_embed_text (all, "river night harbour", vector), 0);
    double norm = 0;
    for (int i = 0; i < 4; i++)
        norm += (double) vector [i] * vector [i];
    assert_true (fabs (norm - 1) < 1e-3);
    mg_lsa_destroy (&all);
    mg_lsa_destroy (&every2);
}

static void
test_a_bad_line_or_a_missing_file_writes_no_model (void **state)
{
    (void) state;
    char records [256], model [256], missing [256];
    snprintf (records, sizeof records, "%s/bad.jsonl", s_dir);
    snprintf (model, sizeof model, "%s/bad.model", s_dir);
    snprintf (missing, sizeof missing, "%s/not-there.jsonl", s_dir);
    assert_int_equal (s_write_records (records, 7), 0);
    assert_false (s_train (records, "1", model));
    assert_int_not_equal (access (model, F_OK), 0);
    assert_false (s_train (missing, "1", model));
    assert_int_not_equal (access (model, F_OK), 0);
    //  --every outside 1-1000000 is refused.
    assert_int_equal (s_write_records (records, 0), 0);
    assert_false (s_train (records, "0", model));
    assert_int_not_equal (access (model, F_OK), 0);
}

static void
test_record_fields_keep_whole_items (void **state)
{
    (void) state;
    json_t *rec = json_loads ("{\"keywords\":[\"aaaa\",\"bbbb\",\"cccc\"],"
                              "\"genres\":[{\"name\":\"Science Fiction\"},{\"name\":\"TV Movie\"},{}]}", 0, NULL);
    assert_non_null (rec);
    char out [16];
    assert_string_equal (search_record_join (json_object_get (rec, "keywords"), NULL, out, 10), "aaaa\nbbbb");
    assert_string_equal (search_record_join (json_object_get (rec, "keywords"), NULL, out, 9), "aaaa");
    assert_string_equal (search_record_join (json_object_get (rec, "keywords"), NULL, out, sizeof out),
                         "aaaa\nbbbb\ncccc");
    char genres [64];
    assert_string_equal (search_record_genres (rec, genres, sizeof genres), "science-fiction,tv-movie");
    assert_string_equal (search_record_genres (rec, genres, 20), "science-fiction");
    json_decref (rec);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_model_comes_from_a_file_of_records),
        cmocka_unit_test (test_a_bad_line_or_a_missing_file_writes_no_model),
        cmocka_unit_test (test_record_fields_keep_whole_items),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
