/*  The multipart/form-data reader of the import route (gateway/multipart.c).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "import.h"

#define FORM "preamble\r\n--B-1\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n" \
             "--B-1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"my list.csv\"\r\n" \
             "Content-Type: Text/CSV; charset=utf-8\r\n\r\ntitle,year\r\nThe Matrix,1999\r\n\r\n--B-1--\r\n"

static void
test_multipart_finds_the_file_field_with_its_type_and_name (void **state)
{
    (void) state;
    gw_multipart_part_t part;
    char why [128];
    assert_int_equal (gw_multipart_find (FORM, strlen (FORM), "B-1", "file", &part, why, sizeof why), 0);
    assert_int_equal (part.len, strlen ("title,year\r\nThe Matrix,1999\r\n"));
    assert_memory_equal (part.data, "title,year\r\nThe Matrix,1999\r\n", part.len);
    assert_string_equal (part.content_type, "text/csv");
    assert_string_equal (part.filename, "my list.csv");
    assert_int_equal (gw_multipart_find (FORM, strlen (FORM), "B-1", "note", &part, why, sizeof why), 0);
    assert_int_equal (part.len, 5);
    assert_string_equal (part.content_type, "");
}

static void
test_multipart_refuses_a_missing_field_a_cut_body_and_a_wrong_boundary (void **state)
{
    (void) state;
    gw_multipart_part_t part;
    char why [128] = "";
    assert_int_equal (gw_multipart_find (FORM, strlen (FORM), "B-1", "other", &part, why, sizeof why), -1);
    assert_non_null (strstr (why, "'other'"));
    //  Cut inside the file part: no closing delimiter.
    assert_int_equal (gw_multipart_find (FORM, strlen (FORM) - 14, "B-1", "file", &part, why, sizeof why), -1);
    assert_non_null (strstr (why, "cut short"));
    assert_int_equal (gw_multipart_find (FORM, strlen (FORM), "B-2", "file", &part, why, sizeof why), -1);
    assert_int_equal (gw_multipart_find ("", 0, "B-1", "file", &part, why, sizeof why), -1);
}

static void
test_multipart_boundary_comes_from_the_content_type (void **state)
{
    (void) state;
    char boundary [GW_MULTIPART_BOUNDARY_MAX + 1];
    assert_int_equal (gw_multipart_boundary ("multipart/form-data; boundary=B-1", boundary), 0);
    assert_string_equal (boundary, "B-1");
    assert_int_equal (gw_multipart_boundary ("multipart/form-data; charset=x; boundary=\"a b:c\"", boundary), 0);
    assert_string_equal (boundary, "a b:c");
    assert_int_equal (gw_multipart_boundary ("multipart/form-data", boundary), -1);
    assert_int_equal (gw_multipart_boundary ("multipart/form-data; boundary=", boundary), -1);
    assert_int_equal (gw_multipart_boundary ("multipart/form-data; boundary=a{b", boundary), -1);
    char longer [160] = "multipart/form-data; boundary=";
    memset (longer + strlen (longer), 'x', 71);
    assert_int_equal (gw_multipart_boundary (longer, boundary), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_multipart_finds_the_file_field_with_its_type_and_name),
        cmocka_unit_test (test_multipart_refuses_a_missing_field_a_cut_body_and_a_wrong_boundary),
        cmocka_unit_test (test_multipart_boundary_comes_from_the_content_type),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
