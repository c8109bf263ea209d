/*  libFuzzer: access token verification (lib/mg_jwt.c) against arbitrary
    bytes, with one secret and with a current + previous pair (a rotation).
    Nothing may crash, and nothing but a token signed with one of the keys
    may verify.  */
#include "mg_jwt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char s_key [] = "fuzz-secret-0123456789abcdef0123456789";
static const char s_previous [] = "fuzz-previous-0123456789abcdef01234567";

//  True when data (size bytes) is exactly what signing claims with key gives.
static bool
s_signed_with (const char *key, size_t key_len, const mg_jwt_claims_t *claims, const uint8_t *data, size_t size)
{
    char token [MG_JWT_MAX_LEN];
    return mg_jwt_sign ((const uint8_t *) key, key_len, claims, token, sizeof token) == 0
        && strlen (token) == size && memcmp (token, data, size) == 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        if (sodium_init () < 0)
            abort ();
        ready = true;
    }
    static mg_jwt_keys_t keys;
    if (keys.current_len == 0) {
        memcpy (keys.current, s_key, sizeof s_key - 1);
        keys.current_len = sizeof s_key - 1;
        memcpy (keys.previous, s_previous, sizeof s_previous - 1);
        keys.previous_len = sizeof s_previous - 1;
    }
    mg_jwt_claims_t claims;
    const char *reason = NULL;
    if (mg_jwt_verify ((const uint8_t *) s_key, sizeof s_key - 1, (const char *) data, size,
                       1000, &claims, &reason) == 0) {
        //  Verified: it must be exactly what signing those claims gives.
        if (!s_signed_with (s_key, sizeof s_key - 1, &claims, data, size))
            abort ();
    }
    else
    if (!reason)
        abort ();
    reason = NULL;
    if (mg_jwt_verify_keys (&keys, (const char *) data, size, 1000, &claims, &reason) == 0) {
        if (!s_signed_with (s_key, sizeof s_key - 1, &claims, data, size)
        &&  !s_signed_with (s_previous, sizeof s_previous - 1, &claims, data, size))
            abort ();
    }
    else
    if (!reason)
        abort ();
    return 0;
}
