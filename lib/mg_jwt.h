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

//  True for the tiers an account or key can have.
bool mg_jwt_tier_valid (const char *tier);

#endif
