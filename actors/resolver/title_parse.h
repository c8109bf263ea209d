/*  Parse a listing title of the MovieLens kind:
        "Matrix, The (1999)"                       -> "The Matrix", 1999
        "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
                                                   -> "The City of Lost Children",
                                                      alternate "La Cité des enfants perdus", 1995
        "Seven (a.k.a. Se7en) (1995)"              -> "Seven", alternate "Se7en", 1995
    Trailing articles of many languages move back to the front.  */
#ifndef RESOLVER_TITLE_PARSE_H_INCLUDED
#define RESOLVER_TITLE_PARSE_H_INCLUDED

#include <jansson.h>

#define TITLE_PARSE_MAX         1024    //  bytes of one title
#define TITLE_PARSE_ALTERNATES  4

typedef struct {
    char title [TITLE_PARSE_MAX];
    char alternates [TITLE_PARSE_ALTERNATES][TITLE_PARSE_MAX];
    int nalternates;
    int year;                           //  0 when the listing has none
} title_parsed_t;

//  Parse listing into out (never fails; an unparsable listing is the title).
void title_parse_listing (const char *listing, title_parsed_t *out);

//  Set "alternate_titles" and "year" of a raw.record JSON object from parsed
//  (the title itself is the caller's: it may prefer another column).
void title_parsed_to_json (const title_parsed_t *parsed, json_t *record);

#endif
