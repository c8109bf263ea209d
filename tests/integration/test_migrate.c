/*  Migrations against a real PostgreSQL (MG_PG_URL), in a scratch database
    of their own: applied once each, recorded, rolled back on failure.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_pg.h"
#include "mg_test.h"

typedef struct {
    char url [512];
    PGconn *admin;
    PGconn *conn;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    char err [256];
    f->admin = mg_test_scratch_db ("mg_migrate", f->url, sizeof f->url);
    if (!f->admin)
        return -1;
    f->conn = mg_pg_connect (f->url, err, sizeof err);
    *state = f;
    return f->conn ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    PQfinish (f->conn);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  Single integer result of sql.
static long
s_scalar (PGconn *conn, const char *sql)
{
    PGresult *res = PQexec (conn, sql);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    long v = atol (PQgetvalue (res, 0, 0));
    PQclear (res);
    return v;
}

static void
test_migrations_apply_once_and_seed_the_18_genres (void **state)
{
    fixture_t *f = *state;
    char err [512];
    int applied = mg_pg_migrate (f->conn, MG_SOURCE_DIR "/config/sql", err, sizeof err);
    assert_true (applied >= 3);
    assert_int_equal (s_scalar (f->conn, "SELECT count(*) FROM genres"), 18);
    assert_int_equal (s_scalar (f->conn, "SELECT count(*) FROM schema_migrations"), applied);
    assert_int_equal (s_scalar (f->conn, "SELECT count(*) FROM genres WHERE slug = 'science-fiction'"), 1);
    //  A second run applies nothing.
    assert_int_equal (mg_pg_migrate (f->conn, MG_SOURCE_DIR "/config/sql", err, sizeof err), 0);
}

static void
test_broken_migration_rolls_back_and_names_the_file (void **state)
{
    fixture_t *f = *state;
    char dir [] = "/tmp/mg-migrate-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/001_ok.sql", dir);
    FILE *file = fopen (path, "w");
    fputs ("CREATE TABLE t_ok (x int);\n", file);
    fclose (file);
    snprintf (path, sizeof path, "%s/002_broken.sql", dir);
    file = fopen (path, "w");
    fputs ("CREATE TABLE t_half (x int);\nSELECT no_such_function();\n", file);
    fclose (file);
    char err [512];
    assert_int_equal (mg_pg_migrate (f->conn, dir, err, sizeof err), -1);
    assert_non_null (strstr (err, "002_broken.sql"));
    //  The good one stayed, nothing of the broken one did.
    assert_int_equal (s_scalar (f->conn, "SELECT count(*) FROM schema_migrations WHERE name = '001_ok.sql'"), 1);
    assert_int_equal (s_scalar (f->conn, "SELECT count(*) FROM schema_migrations WHERE name = '002_broken.sql'"), 0);
    assert_int_equal (s_scalar (f->conn, "SELECT count(*) FROM pg_tables WHERE tablename = 't_half'"), 0);
    unlink (path);
    snprintf (path, sizeof path, "%s/001_ok.sql", dir);
    unlink (path);
    rmdir (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_migrations_apply_once_and_seed_the_18_genres, setup, teardown),
        cmocka_unit_test_setup_teardown (test_broken_migration_rolls_back_and_names_the_file, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
