/*  mg-admin: operator commands that no API user can run. Talks to
    PostgreSQL directly (MG_PG_URL).

        mg-admin set-tier EMAIL TIER        the account and all its keys
        mg-admin set-tier --key KEY_ID TIER one API key
        mg-admin make-secret [--force] FILE the JWT signing secret

    TIER is free, pro or enterprise. A tier change reaches API keys within
    the gateway's key cache time and access tokens at their next refresh.

    make-secret needs no database: it writes 48 random bytes from libsodium
    (base64url, 64 characters) to FILE with mode 0600, unless FILE already
    holds a usable secret (then it is kept, so sessions survive restarts);
    --force replaces it (every token signed with the old one stops
    verifying, unless it is given as MG_JWT_SECRET_PREVIOUS).  */
#include "accounts.h"
#include "mg_config.h"
#include "mg_jwt.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_RANDOM 48            //  bytes: 384 bits, above HS256's 256-bit key size

static int
s_usage (void)
{
    fprintf (stderr, "usage: mg-admin set-tier EMAIL free|pro|enterprise\n"
                     "       mg-admin set-tier --key KEY_ID free|pro|enterprise\n"
                     "       mg-admin make-secret [--force] FILE\n");
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
        if (!mg_uuid_is (target, false)) {
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

//  True when path holds a secret the processes would accept.
static bool
s_secret_usable (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return false;
    uint8_t text [MG_JWT_SECRET_MAX + 2];
    size_t n = fread (text, 1, sizeof text, file);
    fclose (file);
    while (n && (text [n - 1] == '\n' || text [n - 1] == '\r' || text [n - 1] == ' '))
        n--;
    bool usable = mg_jwt_secret_check (text, n, NULL) == 0;
    sodium_memzero (text, sizeof text);
    return usable;
}

//  make-secret: arguments after the command name.
static int
s_make_secret (int argc, char **argv)
{
    bool force = argc == 2 && strcmp (argv [0], "--force") == 0;
    if (argc != (force ? 2 : 1))
        return s_usage ();
    const char *path = argv [force ? 1 : 0];
    if (!force && s_secret_usable (path)) {
        printf ("kept the secret in %s\n", path);
        return 0;
    }
    char tmp [4096];
    if (snprintf (tmp, sizeof tmp, "%s.%d.tmp", path, (int) getpid ()) >= (int) sizeof tmp) {
        fprintf (stderr, "mg-admin: path too long\n");
        return 2;
    }
    uint8_t random [SECRET_RANDOM];
    char text [sodium_base64_ENCODED_LEN (SECRET_RANDOM, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 1];
    randombytes_buf (random, sizeof random);
    sodium_bin2base64 (text, sizeof text - 1, random, sizeof random, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero (random, sizeof random);
    size_t len = strlen (text);
    text [len++] = '\n';
    //  Written under another name and renamed: a reader never sees half a secret.
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    bool ok = fd >= 0 && write (fd, text, len) == (ssize_t) len && fsync (fd) == 0;
    int saved = errno;
    sodium_memzero (text, sizeof text);
    if (fd >= 0 && close (fd) != 0)
        ok = false;
    if (!ok || rename (tmp, path) != 0) {
        fprintf (stderr, "mg-admin: cannot write %s: %s\n", path, strerror (ok ? errno : saved));
        unlink (tmp);
        return 1;
    }
    printf ("wrote a new secret to %s\n", path);
    return 0;
}

int
main (int argc, char **argv)
{
    mg_log_init ("admin");
    if (argc < 2)
        return s_usage ();
    if (strcmp (argv [1], "make-secret") == 0) {
        if (sodium_init () < 0) {
            fprintf (stderr, "mg-admin: cannot initialise libsodium\n");
            return 1;
        }
        return s_make_secret (argc - 2, argv + 2);
    }
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
