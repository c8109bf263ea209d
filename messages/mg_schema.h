/*  Message structs and descriptors generated from schema.def by X-macros.
    Include mg_msg.h, not this file.  */
#ifndef MG_SCHEMA_H_INCLUDED
#define MG_SCHEMA_H_INCLUDED

#define MG_MESSAGE(T, NAME, VERSION, DOC, ...) \
    typedef struct T##_t { __VA_ARGS__ uint8_t mg_reserved_; } T##_t; \
    extern const mg_msgdesc_t T##_desc;
#define MG_STR(T, F, REQ, MAX, DOC)        char *F;
#define MG_INT(T, F, REQ, DOC)             int64_t F; bool has_##F;
#define MG_UINT(T, F, REQ, DOC)            uint64_t F; bool has_##F;
#define MG_DOUBLE(T, F, REQ, DOC)          double F; bool has_##F;
#define MG_BOOL(T, F, REQ, DOC)            bool F; bool has_##F;
#define MG_STRLIST(T, F, REQ, MAX, DOC)    char **F; size_t F##_count;
#define MG_MSG(T, F, REQ, S, DOC)          struct S##_t *F;
#define MG_MSGLIST(T, F, REQ, MAX, S, DOC) struct S##_t *F; size_t F##_count;

#include "schema.def"

#undef MG_MESSAGE
#undef MG_STR
#undef MG_INT
#undef MG_UINT
#undef MG_DOUBLE
#undef MG_BOOL
#undef MG_STRLIST
#undef MG_MSG
#undef MG_MSGLIST

#endif
