/*  mg_csv: RFC 4180 rows from plain and gzip files, and the limits.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "mg_csv.h"

typedef struct {
    char seen [16][128];              //  "row:field|field|..."
    size_t rows;
    size_t stop_at;                   //  0 = never stop
} s_rows_t;

static int
s_collect (char **fields, size_t count, size_t row, void *arg)
{
    s_rows_t *rows = arg;
    if (rows->rows < 16) {
        char *out = rows->seen [rows->rows];
        size_t used = (size_t) snprintf (out, 128, "%zu:", row);
        for (size_t i = 0; i < count && used < 128; i++)
            used += (size_t) snprintf (out + used, 128 - used, "%s%s", i ? "|" : "", fields [i]);
    }
    rows->rows++;
    return rows->stop_at && rows->rows == rows->stop_at;
}

//  Write text to a new temporary file (gzip'd when gz); its path in path.
static void
s_write (char *path, const char *text, bool gz)
{
    strcpy (path, "/tmp/mg-test-csv-XXXXXX");
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);
    if (gz) {
        gzFile out = gzopen (path, "wb");
        assert_non_null (out);
        assert_int_equal (gzwrite (out, text, (unsigned) strlen (text)), (int) strlen (text));
        gzclose (out);
    }
    else {
        FILE *out = fopen (path, "w");
        assert_non_null (out);
        fputs (text, out);
        fclose (out);
    }
}

static void
test_quoted_fields_keep_commas_quotes_and_line_breaks (void **state)
{
    (void) state;
    for (int gz = 0; gz < 2; gz++) {
        char path [64], err [256];
        s_write (path, "id,title,notes\n1,\"Matrix, The\",\"say \"\"hi\"\"\nnext line\"\n2,Heat,\n", gz);
        s_rows_t rows = { 0 };
        assert_int_equal (mg_csv_read (path, s_collect, &rows, err, sizeof err), 0);
        assert_int_equal (rows.rows, 3);
        assert_string_equal (rows.seen [0], "1:id|title|notes");
        assert_string_equal (rows.seen [1], "2:1|Matrix, The|say \"hi\"\nnext line");
        assert_string_equal (rows.seen [2], "3:2|Heat|");
        unlink (path);
    }
}

static void
test_the_callback_stops_reading (void **state)
{
    (void) state;
    char path [64], err [256];
    s_write (path, "a\nb\nc\n", false);
    s_rows_t rows = { .stop_at = 2 };
    assert_int_equal (mg_csv_read (path, s_collect, &rows, err, sizeof err), 1);
    assert_int_equal (rows.rows, 2);
    unlink (path);
}

static void
test_bad_files_are_errors_with_a_reason (void **state)
{
    (void) state;
    char path [64], err [256];
    s_rows_t rows = { 0 };
    assert_int_equal (mg_csv_read ("/nonexistent.csv", s_collect, &rows, err, sizeof err), -1);
    assert_non_null (strstr (err, "nonexistent"));

    s_write (path, "a,b\n1,\"unterminated\n", false);
    assert_int_equal (mg_csv_read (path, s_collect, &rows, err, sizeof err), -1);
    assert_non_null (strstr (err, "row 2"));
    unlink (path);

    char wide [MG_CSV_FIELDS_MAX * 2 + 8];
    size_t n = 0;
    for (int i = 0; i <= MG_CSV_FIELDS_MAX; i++)
        n += (size_t) snprintf (wide + n, sizeof wide - n, "%sx", i ? "," : "");
    snprintf (wide + n, sizeof wide - n, "\n");
    char text [sizeof wide + 8];
    snprintf (text, sizeof text, "h\n%s", wide);
    s_write (path, text, false);
    memset (&rows, 0, sizeof rows);
    assert_int_equal (mg_csv_read (path, s_collect, &rows, err, sizeof err), -1);
    assert_non_null (strstr (err, "row 2: more than 64 columns"));
    assert_int_equal (rows.rows, 1);
    unlink (path);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_quoted_fields_keep_commas_quotes_and_line_breaks),
        cmocka_unit_test (test_the_callback_stops_reading),
        cmocka_unit_test (test_bad_files_are_errors_with_a_reason),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
