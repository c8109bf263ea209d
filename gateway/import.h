/*  POST /api/v1/me/import (import.c): a list file, as the body itself or
    as the `file` field of a multipart/form-data form (multipart.c), sent
    on to the sync actor in pieces under the bus's message limit.  */
#ifndef GW_IMPORT_H_INCLUDED
#define GW_IMPORT_H_INCLUDED

#include "gw_request.h"

#include <stddef.h>

#define GW_IMPORT_PATH      "/api/v1/me/import"
#define GW_IMPORT_MAX_BODY  (5 * 1024 * 1024)   //  bytes of an import body (other routes: MG_HTTP_MAX_BODY)
#define GW_MULTIPART_BOUNDARY_MAX 70            //  RFC 2046: a boundary is 1 to 70 characters

//  One part of a multipart body: its content points into the body.
typedef struct {
    const char *data;
    size_t len;
    char content_type [128];        //  the part's Content-Type (lower case, no parameters), "" when none
    char filename [256];            //  the filename of its Content-Disposition, "" when none
} gw_multipart_part_t;

//  The boundary parameter of a multipart Content-Type value into out
//  (GW_MULTIPART_BOUNDARY_MAX + 1 bytes). 0, or -1 when there is none or it
//  is not a valid boundary.
int gw_multipart_boundary (const char *content_type, char out [GW_MULTIPART_BOUNDARY_MAX + 1]);

//  Find the form field name in body (len bytes of multipart/form-data
//  delimited by boundary) into part. 0, or -1 with why (the body is
//  malformed, or has no such field).
int gw_multipart_find (const char *body, size_t len, const char *boundary, const char *name,
                       gw_multipart_part_t *part, char *why, size_t whylen);

//  Is the request POST /api/v1/me/import (whose body limit is GW_IMPORT_MAX_BODY)?
bool gw_import_is (const char *path, size_t path_len, int method);

//  Local handler of POST /api/v1/me/import.
void gw_import_post (gw_request_t *request);

#endif
