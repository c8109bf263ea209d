/*  Accounts actor: users (Argon2id password hashes), access and refresh
    tokens, API keys (stored only as SHA-256 hashes), and the key -> (user,
    tier) lookup the gateway caches.  */
#ifndef ACCOUNTS_H_INCLUDED
#define ACCOUNTS_H_INCLUDED

#include "mg_actor.h"
#include "mg_jwt.h"
#include "mg_uuid.h"
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACCOUNTS_PASSWORD_MIN    8       //  bytes: shorter is guessable
#define ACCOUNTS_PASSWORD_MAX    128     //  bytes: bounds the hashing work per request
#define ACCOUNTS_EMAIL_MIN       3       //  matches the users.email CHECK
#define ACCOUNTS_EMAIL_MAX       254     //  RFC 5321 path limit
#define ACCOUNTS_KEY_PREFIX      "mg_live_"
#define ACCOUNTS_KEY_RANDOM      32      //  random bytes in a key (256 bits)
#define ACCOUNTS_KEY_LEN         51      //  "mg_live_" + 43 base64url characters
#define ACCOUNTS_KEY_SHOWN       12      //  characters kept as the listed prefix
#define ACCOUNTS_KEYS_MAX        100     //  live keys per user (also the list limit)
#define ACCOUNTS_NAME_MAX        100     //  bytes of a key's name
#define ACCOUNTS_PER_PAGE        20      //  API keys per page unless asked
#define ACCOUNTS_REVOKED_TOPIC   "auth.key_revoked"  //  gateways drop a revoked key on it

//  Settings shared by all worker threads (read once at start).
typedef struct {
    const char *pg_url;
    uint8_t jwt_key [MG_JWT_SECRET_MAX];
    size_t jwt_key_len;
    char jwt_fingerprint [MG_JWT_FINGERPRINT_LEN + 1];
    int64_t access_ttl_s;           //  MG_ACCESS_TOKEN_TTL_S
    int64_t refresh_ttl_s;          //  MG_REFRESH_TOKEN_TTL_S
    unsigned long long pwhash_ops;  //  Argon2id opslimit
    size_t pwhash_mem;              //  Argon2id memlimit, bytes
    int64_t login_max_failures;     //  MG_LOGIN_MAX_FAILURES: of one client, for one email
    int64_t login_lock_s;           //  MG_LOGIN_LOCK_S: that client's lock
    int64_t login_global_failures;  //  MG_LOGIN_GLOBAL_FAILURES: of all clients, for one email
    int64_t login_global_lock_s;    //  MG_LOGIN_GLOBAL_LOCK_S: lock of a failing client past it
    int64_t login_window_s;         //  MG_LOGIN_WINDOW_S: failures older than this are forgotten
    int64_t retention_every_s;      //  MG_ACCOUNTS_RETENTION_EVERY_S: 0 = no retention job
    int64_t refresh_keep_s;         //  MG_REFRESH_TOKENS_KEEP_S: dead tokens kept this long
    int64_t login_failures_keep_s;  //  MG_LOGIN_FAILURES_KEEP_S: quiet throttle rows kept this long
    char dummy_hash [128];          //  verified for unknown emails: same time as a real check
} accounts_config_t;

//  One per worker thread: its own PostgreSQL connection and event publisher.
typedef struct {
    const accounts_config_t *config;
    PGconn *pg;
    bool in_transaction;            //  between accounts_begin and its commit/rollback
    zsock_t *events;                //  PUB to MG_EVENTS_PUB (auth.* topics)
} accounts_thread_t;

//  --- validate.c (no I/O; unit tested) ---

//  0 when email is acceptable, else -1 with a reason for a person.
int accounts_email_check (const char *email, const char **reason);

//  0 when password is acceptable, else -1 with a reason.
int accounts_password_check (const char *password, const char **reason);

//  0 when name is acceptable for an API key, else -1 with a reason.
int accounts_key_name_check (const char *name, const char **reason);

//  True when key has the shape of one of our API keys.
bool accounts_key_shape_ok (const char *key);

//  Lower-case hex SHA-256 of text into hex (65 bytes).
void accounts_sha256_hex (const char *text, char hex [65]);

//  New random token: prefix then base64url of nbytes random bytes, into out.
//  Returns 0, or -1 when out is too small.
int accounts_random_token (const char *prefix, size_t nbytes, char *out, size_t outlen);

//  --- db.c ---

//  Run sql with text params (NULL = SQL NULL), reconnecting once when the
//  connection was lost. Returns the result (caller clears) when its status
//  is a success; NULL with err filled otherwise: CONFLICT for a unique
//  violation, SERVICE_UNAVAILABLE when the database is down, else INTERNAL.
PGresult *accounts_exec (accounts_thread_t *self, const char *sql, int nparams,
                         const char *const *params, mg_error_t *err);

//  BEGIN a transaction on the thread's connection; 0 or -1 with err.
int accounts_begin (accounts_thread_t *self, mg_error_t *err);

//  COMMIT it; 0 or -1 with err (rolled back then).
int accounts_commit (accounts_thread_t *self, mg_error_t *err);

//  Give up the transaction (ROLLBACK); the connection is idle after.
void accounts_rollback (accounts_thread_t *self);

//  --- retention.c ---

//  Rows kept and deleted by one pass.
typedef struct {
    long refresh_tokens;            //  deleted
    long login_failures;            //  deleted
} accounts_retention_t;

//  One retention pass on pg: refresh tokens that expired (or were revoked)
//  more than config->refresh_keep_s ago, and throttle rows untouched for
//  config->login_failures_keep_s and not locked. Returns 0 or -1 (logged).
int accounts_retention_pass (PGconn *pg, const accounts_config_t *config, accounts_retention_t *out);

typedef struct accounts_retention_job_t accounts_retention_job_t;

//  Run a pass every config->retention_every_s on a thread of its own (with
//  its own connection). NULL when the interval is 0 or the thread cannot start.
accounts_retention_job_t *accounts_retention_start (const accounts_config_t *config);

//  Stop the job and wait for it. Nulls *self_p; NULL is fine.
void accounts_retention_stop (accounts_retention_job_t **self_p);

//  --- users.c ---
int accounts_on_register (void *state, const void *req, void *rep, mg_error_t *err);
int accounts_on_login (void *state, const void *req, void *rep, mg_error_t *err);
int accounts_on_refresh (void *state, const void *req, void *rep, mg_error_t *err);

//  --- keys.c ---
int accounts_on_keys_list (void *state, const void *req, void *rep, mg_error_t *err);
int accounts_on_keys_create (void *state, const void *req, void *rep, mg_error_t *err);
int accounts_on_keys_revoke (void *state, const void *req, void *rep, mg_error_t *err);
int accounts_on_authenticate (void *state, const void *req, void *rep, mg_error_t *err);
int accounts_on_fingerprint (void *state, const void *req, void *rep, mg_error_t *err);

#endif
