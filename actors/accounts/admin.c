/*  mg-admin: operator commands that no API user can run. Talks to
    PostgreSQL directly (MG_PG_URL).

        mg-admin set-tier EMAIL TIER        the account and all its keys
        mg-admin set-tier --key KEY_ID TIER one API key

    TIER is free, pro or enterprise. A tier change reaches API keys within
    the gateway's key cache time and access tokens at their next refresh.  */
#include "accounts.h"
#include "mg_config.h"
#include "mg_jwt.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_usage (void)
{
    fprintf (stderr, "usage: mg-admin set-tier EMAIL free|pro|enterprise\n"
                     "       mg-admin set-tier --key KEY_ID free|pro|enterprise\n");
    return 2;
}

//  Run sql in pg; number of rows it changed, or -1 (printed).
static long
s_update (PGconn *pg, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams (pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_COMMAND_OK) {
        fprintf (stderr, "mg-admin: %s", PQresultErrorMessage (res));
        PQclear (res);
        return -1;
    }
    long rows = atol (PQcmdTuples (res));
    PQclear (res);
    return rows;
}

//  set-tier: arguments after the command name.
static int
s_set_tier (PGconn *pg, int argc, char **argv)
{
    bool by_key = argc == 3 && strcmp (argv [0], "--key") == 0;
    if (argc != (by_key ? 3 : 2))
        return s_usage ();
    const char *target = argv [by_key ? 1 : 0];
    const char *tier = argv [by_key ? 2 : 1];
    if (!mg_jwt_tier_valid (tier)) {
        fprintf (stderr, "mg-admin: unknown tier '%s' (free, pro or enterprise)\n", tier);
        return 2;
    }
    if (by_key) {
        if (!accounts_uuid_ok (target)) {
            fprintf (stderr, "mg-admin: '%s' is not a key id\n", target);
            return 2;
        }
        const char *params [] = { target, tier };
        long rows = s_update (pg, "UPDATE api_keys SET tier = $2 WHERE id = $1::uuid", 2, params);
        if (rows <= 0) {
            if (rows == 0)
                fprintf (stderr, "mg-admin: no API key %s\n", target);
            return 1;
        }
        printf ("key %s: tier %s\n", target, tier);
        return 0;
    }
    const char *params [] = { target, tier };
    if (s_update (pg, "BEGIN", 0, NULL) < 0)
        return 1;
    long users = s_update (pg, "UPDATE users SET tier = $2 WHERE lower(email) = lower($1)", 2, params);
    long keys = users > 0 ? s_update (pg,
        "UPDATE api_keys SET tier = $2 FROM users u WHERE api_keys.user_id = u.id AND lower(u.email) = lower($1)",
        2, params) : -1;
    if (users <= 0 || keys < 0 || s_update (pg, "COMMIT", 0, NULL) < 0) {
        if (users == 0)
            fprintf (stderr, "mg-admin: no account with that email\n");
        s_update (pg, "ROLLBACK", 0, NULL);
        return 1;
    }
    printf ("account %s: tier %s (%ld API keys)\n", target, tier, keys);
    return 0;
}

int
main (int argc, char **argv)
{
    mg_log_init ("admin");
    if (argc < 2)
        return s_usage ();
    char reason [512];
    PGconn *pg = mg_pg_connect (mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway"),
                                reason, sizeof reason);
    if (!pg) {
        fprintf (stderr, "mg-admin: cannot connect to PostgreSQL: %s\n", reason);
        return 1;
    }
    int rc;
    if (strcmp (argv [1], "set-tier") == 0)
        rc = s_set_tier (pg, argc - 2, argv + 2);
    else
        rc = s_usage ();
    PQfinish (pg);
    return rc;
}
