/*  What every fetcher parser fuzz target checks: each item of the list a
    parser accepted must pass the schema's strict decoder for its message.
    Takes ownership of list (NULL: the parser refused the input).  */
#ifndef FUZZ_FETCHER_H
#define FUZZ_FETCHER_H

#include "mg_msg.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static inline void
fuzz_fetcher_check_items (json_t *list, const mg_msgdesc_t *desc)
{
    if (!list)
        return;
    char err [256];
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item) {
        uint8_t msg [1024];
        if (desc->size > sizeof msg)
            abort ();
        memset (msg, 0, sizeof msg);
        if (mg_msg_from_json (desc, item, msg, err, sizeof err) != 0)
            abort ();
        mg_msg_clear (desc, msg);
    }
    json_decref (list);
}

#endif
