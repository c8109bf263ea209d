/*  libFuzzer: every message decoder against arbitrary bytes. A body that
    decodes must encode again, decode again, and convert to JSON.  */
#include "mg_msg.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err [MG_MSG_ERR_LEN];
    for (const mg_msgdesc_t *const *d = mg_msg_all (); *d; d++) {
        void *msg = malloc ((*d)->size);
        void *again = malloc ((*d)->size);
        if (!msg || !again)
            abort ();
        if (mg_msg_decode (*d, data, size, msg, err, sizeof err) == 0) {
            uint8_t *buf = NULL;
            size_t len = 0;
            if (mg_msg_encode (*d, msg, &buf, &len, err, sizeof err) != 0)
                abort ();       //  what decodes must encode
            if (mg_msg_decode (*d, buf, len, again, err, sizeof err) != 0)
                abort ();       //  and decode again
            json_t *json = mg_msg_to_json (*d, again);
            if (!json)
                abort ();
            json_decref (json);
            mg_msg_clear (*d, again);
            free (buf);
            mg_msg_clear (*d, msg);
        }
        free (msg);
        free (again);
    }
    return 0;
}
