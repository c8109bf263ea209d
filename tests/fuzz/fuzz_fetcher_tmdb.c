/*  libFuzzer: provider JSON (TMDB v3 objects) through records_from_tmdb and
    the strict raw.record decoder. What decodes must encode and decode again.  */
#include "mg_msg.h"
#include "records.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *tmdb = json_loadb ((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!tmdb)
        return 0;
    char err [MG_MSG_ERR_LEN];
    json_t *record = records_from_tmdb (tmdb, err, sizeof err);
    json_decref (tmdb);
    if (!record)
        return 0;
    mg_raw_record_t msg, again;
    if (mg_msg_from_json (&mg_raw_record_desc, record, &msg, err, sizeof err) == 0) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (mg_msg_encode (&mg_raw_record_desc, &msg, &buf, &len, err, sizeof err) == 0) {
            if (mg_msg_decode (&mg_raw_record_desc, buf, len, &again, err, sizeof err) != 0)
                abort ();
            mg_msg_clear (&mg_raw_record_desc, &again);
            free (buf);
        }
        mg_msg_clear (&mg_raw_record_desc, &msg);
    }
    json_decref (record);
    return 0;
}
