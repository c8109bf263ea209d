/*  Retention of the accounts tables that grow with use.

    refresh_tokens: a row matters while presenting its token can change
    anything. An expired token is refused before anything else is looked at,
    and a revoked one only revokes its family again, so rows that expired or
    were revoked more than MG_REFRESH_TOKENS_KEEP_S ago are deleted. A live
    family keeps every row that has not expired: its rotated tokens are what
    catches a stolen one being reused.

    login_failures: a count is forgotten after MG_LOGIN_WINDOW_S anyway; rows
    untouched for MG_LOGIN_FAILURES_KEEP_S and not locked are deleted.

    Deletes go in batches, each its own short statement, so a large backlog
    never holds locks for long. Replicas may all run the job: a row is
    deleted once whoever gets to it first.  */
#include "accounts.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_ROWS     5000         //  rows per DELETE: short locks, bounded WAL per statement
#define BATCHES_MAX    200          //  per table per pass: a pass ends even on a huge backlog
#define STOP_POLL_MS   200          //  how soon the job notices it should stop

struct accounts_retention_job_t {
    const accounts_config_t *config;
    pthread_t thread;
    atomic_bool stop;
};

//  Delete in batches with sql ($1 = keep seconds, $2 = batch rows); rows
//  deleted, or -1 (logged).
static long
s_delete (PGconn *pg, const char *sql, int64_t keep_s, const char *table)
{
    char keep [24], batch [24];
    snprintf (keep, sizeof keep, "%lld", (long long) keep_s);
    snprintf (batch, sizeof batch, "%d", BATCH_ROWS);
    const char *params [] = { keep, batch };
    long total = 0;
    for (int i = 0; i < BATCHES_MAX; i++) {
        PGresult *res = PQexecParams (pg, sql, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            mg_error ("retention delete failed", "table=%s sqlstate=%s", table, mg_pg_sqlstate (res));
            PQclear (res);
            mg_pg_settle (pg);
            return -1;
        }
        long rows = atol (PQcmdTuples (res));
        PQclear (res);
        total += rows;
        if (rows < BATCH_ROWS)
            break;
    }
    return total;
}

int
accounts_retention_pass (PGconn *pg, const accounts_config_t *config, accounts_retention_t *out)
{
    assert (pg && config && out);
    memset (out, 0, sizeof *out);
    out->refresh_tokens = s_delete (pg,
        "DELETE FROM refresh_tokens WHERE ctid IN (SELECT ctid FROM refresh_tokens "
        " WHERE expires_at < now() - $1::bigint * interval '1 second' "
        "    OR revoked_at < now() - $1::bigint * interval '1 second' LIMIT $2::int)",
        config->refresh_keep_s, "refresh_tokens");
    out->login_failures = s_delete (pg,
        "DELETE FROM login_failures WHERE ctid IN (SELECT ctid FROM login_failures "
        " WHERE updated_at < now() - $1::bigint * interval '1 second' "
        "   AND (locked_until IS NULL OR locked_until < now()) LIMIT $2::int)",
        config->login_failures_keep_s, "login_failures");
    if (out->refresh_tokens < 0 || out->login_failures < 0)
        return -1;
    if (out->refresh_tokens || out->login_failures)
        mg_info ("retention pass", "refresh_tokens_deleted=%ld login_failures_deleted=%ld",
                 out->refresh_tokens, out->login_failures);
    return 0;
}

//  The job's thread: a pass at start, then every retention_every_s.
static void *
s_run (void *arg)
{
    accounts_retention_job_t *self = arg;
    PGconn *pg = NULL;
    int64_t waited_ms = 0;
    int64_t every_ms = self->config->retention_every_s * 1000;
    bool due = true;
    while (!atomic_load (&self->stop)) {
        if (due) {
            mg_error_t err = { 0 };
            accounts_retention_t done;
            if (mg_pg_keep (&pg, self->config->pg_url, "accounts retention", &err))
                accounts_retention_pass (pg, self->config, &done);
            mg_msg_clear (&mg_error_desc, &err);
            due = false;
            waited_ms = 0;
        }
        usleep (STOP_POLL_MS * 1000);
        waited_ms += STOP_POLL_MS;
        due = waited_ms >= every_ms;
    }
    PQfinish (pg);
    return NULL;
}

accounts_retention_job_t *
accounts_retention_start (const accounts_config_t *config)
{
    assert (config);
    if (config->retention_every_s <= 0)
        return NULL;
    accounts_retention_job_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    atomic_init (&self->stop, false);
    if (pthread_create (&self->thread, NULL, s_run, self)) {
        mg_error ("cannot start the retention job", NULL);
        free (self);
        return NULL;
    }
    return self;
}

void
accounts_retention_stop (accounts_retention_job_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        accounts_retention_job_t *self = *self_p;
        atomic_store (&self->stop, true);
        pthread_join (self->thread, NULL);
        free (self);
        *self_p = NULL;
    }
}
