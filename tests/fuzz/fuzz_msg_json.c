/*  libFuzzer: JSON request bodies through jansson and every message's
    strict JSON decoder. What decodes must encode to msgpack and back.  */
#include "mg_msg.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *json = json_loadb ((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!json)
        return 0;
    char err [MG_MSG_ERR_LEN];
    for (const mg_msgdesc_t *const *d = mg_msg_all (); *d; d++) {
        void *msg = malloc ((*d)->size);
        void *again = malloc ((*d)->size);
        if (!msg || !again)
            abort ();
        if (mg_msg_from_json (*d, json, msg, err, sizeof err) == 0) {
            uint8_t *buf = NULL;
            size_t len = 0;
            //  A JSON value may exceed a msgpack limit only by total size.
            if (mg_msg_encode (*d, msg, &buf, &len, err, sizeof err) == 0) {
                if (mg_msg_decode (*d, buf, len, again, err, sizeof err) != 0)
                    abort ();
                mg_msg_clear (*d, again);
                free (buf);
            }
            mg_msg_clear (*d, msg);
        }
        free (msg);
        free (again);
    }
    json_decref (json);
    return 0;
}
