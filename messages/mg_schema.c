/*  Descriptors for every message in schema.def (second X-macro pass).  */
#include "mg_msg.h"

#define MG_STR(T, F, REQ, MAX, DOC) \
    { #F, MG_T_STR, REQ, MAX, offsetof (T##_t, F), 0, NULL, DOC },
#define MG_INT(T, F, REQ, DOC) \
    { #F, MG_T_INT, REQ, 0, offsetof (T##_t, F), offsetof (T##_t, has_##F), NULL, DOC },
#define MG_UINT(T, F, REQ, DOC) \
    { #F, MG_T_UINT, REQ, 0, offsetof (T##_t, F), offsetof (T##_t, has_##F), NULL, DOC },
#define MG_DOUBLE(T, F, REQ, DOC) \
    { #F, MG_T_DOUBLE, REQ, 0, offsetof (T##_t, F), offsetof (T##_t, has_##F), NULL, DOC },
#define MG_BOOL(T, F, REQ, DOC) \
    { #F, MG_T_BOOL, REQ, 0, offsetof (T##_t, F), offsetof (T##_t, has_##F), NULL, DOC },
#define MG_STRLIST(T, F, REQ, MAX, DOC) \
    { #F, MG_T_STRLIST, REQ, MAX, offsetof (T##_t, F), offsetof (T##_t, F##_count), NULL, DOC },
#define MG_MSG(T, F, REQ, S, DOC) \
    { #F, MG_T_MSG, REQ, 0, offsetof (T##_t, F), 0, &S##_desc, DOC },
#define MG_MSGLIST(T, F, REQ, MAX, S, DOC) \
    { #F, MG_T_MSGLIST, REQ, MAX, offsetof (T##_t, F), offsetof (T##_t, F##_count), &S##_desc, DOC },

#define MG_MESSAGE(T, NAME, VERSION, DOC, ...) \
    static const mg_field_t T##_fields [] = { __VA_ARGS__ { NULL, 0, false, 0, 0, 0, NULL, NULL } }; \
    const mg_msgdesc_t T##_desc = { NAME, VERSION, sizeof (T##_t), \
        sizeof (T##_fields) / sizeof (T##_fields [0]) - 1, T##_fields, DOC };
#include "schema.def"
#undef MG_MESSAGE

#define MG_MESSAGE(T, NAME, VERSION, DOC, ...) &T##_desc,
static const mg_msgdesc_t *const s_all [] = {
#include "schema.def"
    NULL
};

const mg_msgdesc_t *const *
mg_msg_all (void)
{
    return s_all;
}
