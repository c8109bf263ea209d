/*  libFuzzer: the SSE helpers of gateway/sse_format.c on arbitrary bytes. A
    Last-Event-ID value either parses to a number >= 0 or is refused, and
    no data, whatever its bytes, can end an event early or add a field: the
    text written is id, event, data lines only, with one blank line, last.  */
#include "gw_sse_format.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text [size] = '\0';
    int64_t id = -1;
    if (gw_sse_parse_id (text, &id) == 0 && id < 0)
        abort ();
    struct evbuffer *out = evbuffer_new ();
    if (out && gw_sse_format (out, 7, "progress.set", text) == 0) {
        size_t len = evbuffer_get_length (out);
        char *event = malloc (len + 1);
        if (event) {
            evbuffer_copyout (out, event, len);
            event [len] = '\0';
            //  The data's own NUL ends it, as C strings do.
            if (len < 2 || strcmp (event + len - 2, "\n\n") != 0)
                abort ();
            event [len - 1] = '\0';
            for (char *line = event; line && *line; ) {
                char *next = strchr (line, '\n');
                if (next)
                    *next++ = '\0';
                if (strncmp (line, "id: ", 4) && strncmp (line, "event: ", 7) && strncmp (line, "data: ", 6))
                    abort ();
                if (strchr (line, '\r'))
                    abort ();
                line = next;
            }
            free (event);
        }
    }
    if (out)
        evbuffer_free (out);
    free (text);
    return 0;
}
