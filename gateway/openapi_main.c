/*  mg-openapi: print the OpenAPI 3.1 description of the gateway's routes
    (docs/openapi.yaml), YAML by default or JSON with --json, to stdout or
    to the file given with --out.  */
#include "gw_openapi.h"
#include "gw_routes.h"
#include "mg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Write the document as asked; 0 or -1 with a message on stderr.
static int
s_write (bool json, const char *path)
{
    json_t *doc = gw_openapi_document ();
    struct evbuffer *out = evbuffer_new ();
    int rc = doc && out ? 0 : -1;
    if (rc == 0 && json) {
        char *text = json_dumps (doc, JSON_INDENT (2) | JSON_REAL_PRECISION (15));
        rc = text && evbuffer_add (out, text, strlen (text)) == 0 && evbuffer_add (out, "\n", 1) == 0 ? 0 : -1;
        free (text);
    }
    else
    if (rc == 0)
        rc = gw_openapi_yaml (doc, out);
    FILE *file = rc == 0 ? (path ? fopen (path, "w") : stdout) : NULL;
    if (rc == 0 && !file) {
        fprintf (stderr, "mg-openapi: cannot write %s\n", path);
        rc = -1;
    }
    if (file) {
        size_t len = evbuffer_get_length (out);
        const char *text = (const char *) evbuffer_pullup (out, -1);
        if (len && fwrite (text, 1, len, file) != len)
            rc = -1;
        if ((file != stdout ? fclose (file) : fflush (file)) != 0)
            rc = -1;
        if (rc)
            fprintf (stderr, "mg-openapi: write failed\n");
    }
    if (out)
        evbuffer_free (out);
    json_decref (doc);
    return rc;
}

int
main (int argc, char *argv [])
{
    mg_log_init ("openapi");
    bool json = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--json") == 0)
            json = true;
        else
        if (strcmp (argv [i], "--out") == 0 && i + 1 < argc)
            path = argv [++i];
        else {
            fprintf (stderr, "usage: mg-openapi [--json] [--out FILE]\n");
            return 2;
        }
    }
    if (gw_routes_check ())
        return 1;
    return s_write (json, path) ? 1 : 0;
}
