/*  libFuzzer: access token verification (lib/mg_jwt.c) against arbitrary
    bytes. Nothing may crash, and nothing but a token signed with the key
    may verify.  */
#include "mg_jwt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char s_key [] = "fuzz-secret-0123456789abcdef0123456789";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        if (sodium_init () < 0)
            abort ();
        ready = true;
    }
    mg_jwt_claims_t claims;
    const char *reason = NULL;
    if (mg_jwt_verify ((const uint8_t *) s_key, sizeof s_key - 1, (const char *) data, size,
                       1000, &claims, &reason) == 0) {
        //  Verified: it must be exactly what signing those claims gives.
        char token [MG_JWT_MAX_LEN];
        if (mg_jwt_sign ((const uint8_t *) s_key, sizeof s_key - 1, &claims, token, sizeof token) != 0
        ||  strlen (token) != size || memcmp (token, data, size) != 0)
            abort ();
    }
    else
    if (!reason)
        abort ();
    return 0;
}
