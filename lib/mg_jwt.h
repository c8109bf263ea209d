/*  Access tokens: JWT (RFC 7519) signed with HMAC-SHA256 (HS256) through
    libsodium. The accounts actor signs them; every gateway verifies them
    locally with the same secret (MG_JWT_SECRET), so a request with a token
    needs no bus call to be authenticated.

    Only {"alg":"HS256","typ":"JWT"} is accepted: "none", other algorithms,
    a wrong key, a malformed token or an expired one are all rejected.  */
#ifndef MG_JWT_H_INCLUDED
#define MG_JWT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_JWT_MAX_LEN   1024       //  longer tokens are refused before any work
#define MG_JWT_SECRET_MIN 32        //  bytes: HS256 keys shorter than the hash are weak
#define MG_JWT_SECRET_MAX 256       //  bytes: more adds nothing to HMAC-SHA256 (hashed to 64)
#define MG_JWT_FINGERPRINT_LEN 32   //  hex characters of a secret's fingerprint

typedef struct {
    char sub [37];                  //  user id (UUID)
    char tier [16];                 //  free|pro|enterprise
    int64_t iat;                    //  seconds since the epoch
    int64_t exp;
} mg_jwt_claims_t;

//  Sign claims with key into out (NUL-terminated). Returns 0, or -1 when
//  out is too small or a claim does not fit.
int mg_jwt_sign (const uint8_t *key, size_t key_len, const mg_jwt_claims_t *claims,
                 char *out, size_t outlen);

//  Verify token (len bytes) with key at time now (seconds since the epoch)
//  and fill claims. Returns 0, or -1 with *reason set to a short static text
//  that names no part of the token.
int mg_jwt_verify (const uint8_t *key, size_t key_len, const char *token, size_t len,
                   int64_t now, mg_jwt_claims_t *claims, const char **reason);

//  The secrets a process verifies with: current (signs, and verifies) and,
//  during a rotation, previous (verifies only).
typedef struct {
    uint8_t current [MG_JWT_SECRET_MAX];
    size_t current_len;             //  0: no secret (every token is refused)
    uint8_t previous [MG_JWT_SECRET_MAX];
    size_t previous_len;            //  0: no rotation under way
} mg_jwt_keys_t;

//  As mg_jwt_verify with keys->current, then (only when the signature is
//  what failed) with keys->previous.
int mg_jwt_verify_keys (const mg_jwt_keys_t *keys, const char *token, size_t len,
                        int64_t now, mg_jwt_claims_t *claims, const char **reason);

//  0 when key (len bytes) may sign tokens; -1 with a static *reason when it
//  is shorter than MG_JWT_SECRET_MIN, longer than MG_JWT_SECRET_MAX, or a
//  known placeholder (the development value once shipped in
//  config/default.env, or any text saying "change me"): anyone could sign
//  with those.
int mg_jwt_secret_check (const uint8_t *key, size_t len, const char **reason);

//  Read secret name (MG_JWT_SECRET or MG_JWT_SECRET_PREVIOUS) into key
//  (MG_JWT_SECRET_MAX bytes): the variable itself (environment, then config
//  file) wins; else the file named by <name>_FILE, trailing whitespace
//  dropped. Returns 1 and *len = 0 when neither is set, 0 when the secret is
//  usable (mg_jwt_secret_check), -1 with reason (never any of the secret)
//  otherwise.
int mg_jwt_secret_load (const char *name, uint8_t *key, size_t *len, char *reason, size_t reason_len);

//  A fingerprint of key (hex, MG_JWT_FINGERPRINT_LEN + 1 bytes): BLAKE2b
//  keyed with the secret over a fixed label, so two processes can tell
//  whether they hold the same secret without showing it.
void mg_jwt_fingerprint (const uint8_t *key, size_t len, char out [MG_JWT_FINGERPRINT_LEN + 1]);

//  True for the tiers an account or key can have.
bool mg_jwt_tier_valid (const char *tier);

#endif
