/*  mg-accounts: users, tokens and API keys over PostgreSQL. Any number of
    replicas (all state is in the database).  */
#include "accounts.h"
#include "mg_config.h"
#include "mg_jwt.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <czmq.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const mg_method_t s_methods [] = {
    { "accounts.register",     &mg_credentials_desc,          &mg_register_reply_desc,  accounts_on_register },
    { "accounts.login",        &mg_credentials_desc,          &mg_token_reply_desc,     accounts_on_login },
    { "accounts.refresh",      &mg_refresh_request_desc,      &mg_token_reply_desc,     accounts_on_refresh },
    { "accounts.keys_list",    &mg_api_keys_list_request_desc, &mg_api_keys_reply_desc, accounts_on_keys_list },
    { "accounts.keys_create",  &mg_api_key_create_desc,       &mg_api_key_created_desc, accounts_on_keys_create },
    { "accounts.keys_revoke",  &mg_api_key_revoke_desc,       &mg_empty_desc,           accounts_on_keys_revoke },
    { "accounts.authenticate", &mg_authenticate_request_desc, &mg_authenticate_reply_desc, accounts_on_authenticate },
    { "accounts.fingerprint",  &mg_empty_desc,                &mg_fingerprint_reply_desc, accounts_on_fingerprint },
    { NULL, NULL, NULL, NULL }
};

static void *
s_thread_init (void *shared)
{
    accounts_thread_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = shared;
    self->events = mg_actor_event_publisher ();
    if (!self->events) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_thread_fini (void *state)
{
    accounts_thread_t *self = state;
    PQfinish (self->pg);
    zsock_destroy (&self->events);
    free (self);
}

//  Read the settings; -1 (with a log line) when one is unusable.
static int
s_config (accounts_config_t *config)
{
    config->pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway");
    char reason [512];
    int loaded = mg_jwt_secret_load ("MG_JWT_SECRET", config->jwt_key, &config->jwt_key_len,
                                     reason, sizeof reason);
    if (loaded) {
        mg_error ("refusing to start: no usable JWT signing secret", "reason=\"%s\" fix=\"%s\"",
                  loaded > 0 ? "neither MG_JWT_SECRET nor MG_JWT_SECRET_FILE is set" : reason,
                  "run scripts/run (it makes var/jwt_secret), or mg-admin make-secret FILE and set MG_JWT_SECRET_FILE");
        return -1;
    }
    mg_jwt_fingerprint (config->jwt_key, config->jwt_key_len, config->jwt_fingerprint);
    config->access_ttl_s = mg_config_int ("MG_ACCESS_TOKEN_TTL_S", 900, 10, 86400);
    config->refresh_ttl_s = mg_config_int ("MG_REFRESH_TOKEN_TTL_S", 2592000, 60, 31536000);
    config->pwhash_ops = (unsigned long long) mg_config_int ("MG_PWHASH_OPSLIMIT",
        crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_OPSLIMIT_MIN, 20);
    config->pwhash_mem = (size_t) mg_config_int ("MG_PWHASH_MEMLIMIT_KIB",
        crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024, 8, 4 * 1024 * 1024) * 1024;
    config->login_max_failures = mg_config_int ("MG_LOGIN_MAX_FAILURES", 5, 1, 1000);
    config->login_lock_s = mg_config_int ("MG_LOGIN_LOCK_S", 60, 1, 86400);
    config->login_global_failures = mg_config_int ("MG_LOGIN_GLOBAL_FAILURES", 100, 1, 1000000);
    config->login_global_lock_s = mg_config_int ("MG_LOGIN_GLOBAL_LOCK_S", 300, 1, 86400);
    config->login_window_s = mg_config_int ("MG_LOGIN_WINDOW_S", 900, 1, 86400);
    config->retention_every_s = mg_config_int ("MG_ACCOUNTS_RETENTION_EVERY_S", 3600, 0, 604800);
    config->refresh_keep_s = mg_config_int ("MG_REFRESH_TOKENS_KEEP_S", 86400, 0, 31536000);
    config->login_failures_keep_s = mg_config_int ("MG_LOGIN_FAILURES_KEEP_S", 86400, 0, 31536000);
    //  The dummy hash has the real parameters, so verifying it costs the same.
    static const char dummy [] = "not a password of anyone";
    if (crypto_pwhash_str (config->dummy_hash, dummy, sizeof dummy - 1,
                           config->pwhash_ops, config->pwhash_mem) != 0) {
        mg_error ("cannot hash with the configured Argon2id limits", "memlimit_kib=%zu",
                  config->pwhash_mem / 1024);
        return -1;
    }
    return 0;
}

int
main (void)
{
    mg_log_init ("accounts");
    zsys_init ();
    if (sodium_init () < 0) {
        mg_error ("cannot initialise libsodium", NULL);
        return EXIT_FAILURE;
    }
    static accounts_config_t config;
    if (s_config (&config))
        return EXIT_FAILURE;
    if (mg_pg_prepare (config.pg_url))
        return EXIT_FAILURE;
    mg_actor_t *actor = mg_actor_new ("accounts", s_methods);
    if (!actor)
        return EXIT_FAILURE;
    mg_actor_set_threads (actor, 0, s_thread_init, s_thread_fini, &config);
    accounts_retention_job_t *retention = accounts_retention_start (&config);
    int rc = mg_actor_run (actor);
    accounts_retention_stop (&retention);
    mg_actor_destroy (&actor);
    sodium_memzero (config.jwt_key, sizeof config.jwt_key);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
