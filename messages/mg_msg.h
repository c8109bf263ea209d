/*  Message codec: table-driven msgpack and JSON conversion for every message
    declared in schema.def (the single source of truth).

    Each message T in schema.def becomes a struct T_t and a descriptor T_desc.
    Field storage by type:
      STR      char *f                       (NULL = absent)
      INT      int64_t f;  bool has_f
      UINT     uint64_t f; bool has_f
      DOUBLE   double f;   bool has_f
      BOOL     bool f;     bool has_f
      STRLIST  char **f;   size_t f_count
      MSG      S_t *f                        (NULL = absent)
      MSGLIST  S_t *f;     size_t f_count
    A decoded or built message owns its heap memory; mg_msg_clear frees it.
*/
#ifndef MG_MSG_H_INCLUDED
#define MG_MSG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define MG_MSG_MAX_BYTES   (1024 * 1024)  //  largest body any decoder accepts
#define MG_MSG_MAX_DEPTH   16             //  deepest nesting any decoder accepts
#define MG_MSG_ERR_LEN     256            //  room for a decode error naming the field

typedef enum {
    MG_T_STR = 1,
    MG_T_INT,
    MG_T_UINT,
    MG_T_DOUBLE,
    MG_T_BOOL,
    MG_T_STRLIST,
    MG_T_MSG,
    MG_T_MSGLIST
} mg_type_t;

typedef struct mg_msgdesc_t mg_msgdesc_t;

typedef struct {
    const char *name;             //  key in msgpack and JSON
    mg_type_t type;
    bool required;
    uint32_t max;                 //  STR: max bytes; *LIST: max items; else 0
    size_t offset;                //  of the value
    size_t aux_offset;            //  of has_f (scalars) or f_count (lists)
    const mg_msgdesc_t *sub;      //  MSG / MSGLIST element type
    const char *doc;
} mg_field_t;

struct mg_msgdesc_t {
    const char *name;             //  type name, sent as "@t"
    uint32_t version;             //  sent as "@v"
    size_t size;                  //  sizeof (T_t)
    size_t nfields;
    const mg_field_t *fields;
    const char *doc;
};

#include "mg_schema.h"

//  Encode msg as msgpack into a new heap buffer (*buf_p, caller frees).
//  Returns 0, or -1 if a value breaks its field's limits (reason in err).
int mg_msg_encode (const mg_msgdesc_t *desc, const void *msg,
                   uint8_t **buf_p, size_t *len_p, char *err, size_t errlen);

//  Decode a msgpack body into msg (which this zeroes first). Strict: see
//  docs/protocol.md. Returns 0, or -1 with a reason naming the field; on
//  error msg holds nothing that needs freeing.
int mg_msg_decode (const mg_msgdesc_t *desc, const uint8_t *buf, size_t len,
                   void *msg, char *err, size_t errlen);

//  Structural check of a msgpack body before any allocation: every declared
//  length fits in the bytes left, nesting <= MG_MSG_MAX_DEPTH, exactly one
//  object. Returns 0 or -1 with a reason. (mg_msg_decode calls it.)
int mg_msg_check_bounds (const uint8_t *buf, size_t len, char *err, size_t errlen);

//  Free what msg owns and zero it. Safe on a zeroed message.
void mg_msg_clear (const mg_msgdesc_t *desc, void *msg);

//  New JSON object with msg's present fields (no "@t"/"@v"). Caller owns it.
json_t *mg_msg_to_json (const mg_msgdesc_t *desc, const void *msg);

//  Fill msg (zeroed first) from a JSON object with the same strictness as
//  mg_msg_decode; unknown keys are an error here (public input).
int mg_msg_from_json (const mg_msgdesc_t *desc, const json_t *json,
                      void *msg, char *err, size_t errlen);

//  True when field f of msg has a value to show (a required list always
//  does, empty or not): the fields mg_msg_to_json writes.
bool mg_msg_field_shown (const mg_field_t *f, const void *msg);

//  Field of desc named name, or NULL.
const mg_field_t *mg_msg_field (const mg_msgdesc_t *desc, const char *name);

//  Set one field of msg from text (a query or path parameter): STR copied,
//  numbers parsed strictly, BOOL true/false/1/0, STRLIST split on ','.
//  Returns 0, or -1 with a reason (e.g. "must be an integer").
int mg_msg_set_text (const mg_field_t *field, void *msg, const char *text,
                     char *err, size_t errlen);

//  Message descriptor by type name, or NULL (all of schema.def).
const mg_msgdesc_t *mg_msg_lookup (const char *name);

//  All descriptors, NULL-terminated.
const mg_msgdesc_t *const *mg_msg_all (void);

//  Convenience for string fields: strdup or NULL on NULL input.
char *mg_strdup (const char *s);

#endif
