/*  libFuzzer: the multipart/form-data reader of gateway/multipart.c on
    arbitrary bytes. The first line is a Content-Type value's boundary
    parameter (a fixed boundary when it is not a valid one), the rest the
    body. A field found lies inside the body and is followed there by the
    delimiter; a failure says why; nothing is read past the body (ASan).  */
#include "import.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const uint8_t *eol = memchr (data, '\n', size < 100 ? size : 100);
    char header [160] = "multipart/form-data; boundary=";
    size_t head = eol ? (size_t) (eol - data) : 0;
    memcpy (header + strlen (header), data, head);
    char boundary [GW_MULTIPART_BOUNDARY_MAX + 1];
    if (gw_multipart_boundary (header, boundary))
        strcpy (boundary, "XyZ-42");
    else
    if (strlen (boundary) == 0 || strlen (boundary) > GW_MULTIPART_BOUNDARY_MAX)
        abort ();
    size_t skip = eol ? head + 1 : 0;
    //  A copy of exactly the body's bytes: any read past it is caught.
    size_t len = size - skip;
    char *body = malloc (len ? len : 1);
    if (!body)
        return 0;
    memcpy (body, data + skip, len);
    gw_multipart_part_t part;
    char why [128] = "";
    if (gw_multipart_find (body, len, boundary, "file", &part, why, sizeof why) == 0) {
        size_t blen = strlen (boundary);
        if (part.data < body || part.len > len || (size_t) (part.data - body) + part.len + 4 + blen > len
        ||  memcmp (part.data + part.len, "\r\n--", 4) != 0
        ||  memcmp (part.data + part.len + 4, boundary, blen) != 0)
            abort ();
    }
    else
    if (!*why)
        abort ();
    free (body);
    return 0;
}
