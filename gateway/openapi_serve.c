/*  Serving the OpenAPI document: both texts (YAML and JSON) built once at
    start, shared read-only by every thread.  */
#include "gw_openapi.h"
#include "gw_respond.h"

#include <stdlib.h>
#include <string.h>

static char *s_yaml_text;
static size_t s_yaml_len;
static char *s_json_text;
static size_t s_json_len;

int
gw_openapi_init (void)
{
    gw_openapi_term ();
    json_t *doc = gw_openapi_document ();
    struct evbuffer *yaml = evbuffer_new ();
    int rc = doc && yaml && gw_openapi_yaml (doc, yaml) == 0 ? 0 : -1;
    if (rc == 0) {
        s_yaml_len = evbuffer_get_length (yaml);
        s_yaml_text = malloc (s_yaml_len);
        s_json_text = json_dumps (doc, JSON_INDENT (2) | JSON_REAL_PRECISION (GW_OPENAPI_REAL_DIGITS));
        if (!s_yaml_text || !s_json_text || evbuffer_remove (yaml, s_yaml_text, s_yaml_len) != (int) s_yaml_len)
            rc = -1;
        s_json_len = s_json_text ? strlen (s_json_text) : 0;
    }
    if (yaml)
        evbuffer_free (yaml);
    json_decref (doc);
    if (rc)
        gw_openapi_term ();
    return rc;
}

void
gw_openapi_term (void)
{
    free (s_yaml_text);
    free (s_json_text);
    s_yaml_text = s_json_text = NULL;
    s_yaml_len = s_json_len = 0;
}

//  Answer with text, or a 500 when the document was not built.
static void
s_serve (gw_request_t *request, const char *text, size_t len, const char *type)
{
    if (!text) {
        gw_reply_error (request, 500, "INTERNAL", 0, "the API description was not built");
        return;
    }
    evbuffer_add (evhttp_request_get_output_buffer (request->http), text, len);
    gw_reply_buffer (request, 200, type);
}

void
gw_openapi_serve_yaml (gw_request_t *request)
{
    s_serve (request, s_yaml_text, s_yaml_len, "application/yaml");
}

void
gw_openapi_serve_json (gw_request_t *request)
{
    s_serve (request, s_json_text, s_json_len, GW_JSON_TYPE);
}
