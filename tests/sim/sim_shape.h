/*  Shape rules for provider answers, as tests/sim/contracts/ writes them:
    a path (dotted members, "[]" = every element of an array, "." = the
    document itself) and the JSON types allowed there ("string|null").  */
#ifndef SIM_SHAPE_H_INCLUDED
#define SIM_SHAPE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  Does doc satisfy the rule? A required path must exist (and its arrays be
//  non-empty, so that their elements are checked at all); an optional one
//  is checked only where present. 0, or -1 with a reason naming the path.
//  types: '|'-separated among string, integer, number, boolean, array,
//  object, null.
int sim_shape_check (const json_t *doc, const char *path, const char *types, bool optional,
                     char *err, size_t errlen);

#endif
