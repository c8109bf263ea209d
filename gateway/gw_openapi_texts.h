/*  openapi_texts.c: the OpenAPI document's hand-written texts, keyed by
    route (used by openapi.c only).  */
#ifndef GW_OPENAPI_TEXTS_H_INCLUDED
#define GW_OPENAPI_TEXTS_H_INCLUDED

#define GW_OPENAPI_SCHEMA_REF "#/components/schemas/"   //  where a $ref points

//  Text the tables lack, per route. JSON texts are parsed at generation: a
//  typo fails mg-openapi (and its test), never a request.
typedef struct {
    const char *method;
    const char *path;
    const char *tag;
    const char *summary;
    const char *description;        //  NULL: the request or reply message's doc
    const char *type;               //  media type of the success body (NULL: application/json)
    const char *body;               //  JSON Schema of a GW_ROUTE_RAW_BODY body; of a local handler
                                    //  without it, the body's content object (media type -> {schema})
    const char *reply;              //  JSON Schema of a local handler's success body
    const char *example;            //  JSON example of the request body
    const char *reply_example;      //  JSON example of the success body
    const char *responses;          //  JSON object of further responses (status -> Response)
} gw_openapi_doc_t;

//  The texts of the route method path, or NULL.
const gw_openapi_doc_t *gw_openapi_doc (const char *method, const char *path);

//  The JSON text of the example of parameter name, or NULL.
const char *gw_openapi_param_example (const char *name);

//  The description of the API (info.description).
extern const char gw_openapi_info [];

#endif
