/*  libFuzzer: Watchmode sources bodies through watchmode_parse_sources. Whatever the parser
    accepts must pass the schema's strict decoder.  */
#include "mg_msg.h"
#include "providers.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    char err [256];
    json_t *list = watchmode_parse_sources (text, size, err, sizeof err);
    if (!list)
        return 0;
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item) {
        uint8_t msg [1024];
        if (mg_raw_availability_desc.size > sizeof msg)
            abort ();
        memset (msg, 0, sizeof msg);
        if (mg_msg_from_json (&mg_raw_availability_desc, item, msg, err, sizeof err) != 0)
            abort ();
        mg_msg_clear (&mg_raw_availability_desc, msg);
    }
    json_decref (list);
    return 0;
}
