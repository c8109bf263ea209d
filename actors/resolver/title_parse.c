/*  Listing titles "Title, The (Alternate) (Year)" (see title_parse.h).  */
#include "title_parse.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

//  Articles that listings move to the end ("Matrix, The"), by language.
static const char *s_articles [] = {
    "The", "A", "An", "La", "Le", "Les", "L'", "Il", "El", "Der", "Die", "Das", "Los", "Las",
    "Lo", "I", "Un", "Une", "Det", "Den", "De", "Os", "As", "O", "Gli", "Het", "Ein", "Eine", "Um", "Uma"
};

//  Trim spaces at both ends of s in place.
static void
s_trim (char *s)
{
    size_t len = strlen (s);
    while (len && isspace ((unsigned char) s [len - 1]))
        s [--len] = 0;
    size_t start = strspn (s, " \t");
    if (start)
        memmove (s, s + start, len - start + 1);
}

//  "Matrix, The" -> "The Matrix"; "Auberge espagnole, L'" -> "L'Auberge espagnole".
static void
s_move_article (char *title)
{
    char *comma = strrchr (title, ',');
    if (!comma)
        return;
    char article [16];
    snprintf (article, sizeof article, "%s", comma + 1);
    s_trim (article);
    for (size_t i = 0; i < sizeof s_articles / sizeof s_articles [0]; i++)
        if (!strcmp (article, s_articles [i])) {
            char moved [TITLE_PARSE_MAX];
            *comma = 0;
            bool apostrophe = article [strlen (article) - 1] == '\'';
            snprintf (moved, sizeof moved, "%s%s%s", article, apostrophe ? "" : " ", title);
            snprintf (title, TITLE_PARSE_MAX, "%s", moved);
            return;
        }
}

void
title_parse_listing (const char *listing, title_parsed_t *out)
{
    memset (out, 0, sizeof *out);
    char work [TITLE_PARSE_MAX];
    snprintf (work, sizeof work, "%s", listing ? listing : "");
    s_trim (work);
    //  Year: "(1999)" or "(2007-2013)" at the very end.
    size_t len = strlen (work);
    if (len >= 6 && work [len - 1] == ')') {
        char *open = strrchr (work, '(');
        int year = 0, end = 0;
        if (open && sscanf (open, "(%4d%n", &year, &end) == 1 && end == 5 && year >= 1870 && year <= 2100
        &&  (open [5] == ')' || open [5] == '-' || (unsigned char) open [5] == 0xe2)) {
            out->year = year;
            *open = 0;
            s_trim (work);
        }
    }
    //  Alternates: trailing "(...)" groups, innermost last.
    while (out->nalternates < TITLE_PARSE_ALTERNATES) {
        len = strlen (work);
        if (len < 3 || work [len - 1] != ')')
            break;
        int depth = 0;
        char *open = NULL;
        for (char *p = work + len - 1; p >= work; p--) {
            if (*p == ')')
                depth++;
            else
            if (*p == '(' && --depth == 0) {
                open = p;
                break;
            }
        }
        if (!open || open == work)
            break;
        char *alternate = out->alternates [out->nalternates];
        snprintf (alternate, TITLE_PARSE_MAX, "%.*s", (int) (work + len - 1 - open - 1), open + 1);
        *open = 0;
        s_trim (work);
        if (!strncasecmp (alternate, "a.k.a. ", 7))
            memmove (alternate, alternate + 7, strlen (alternate + 7) + 1);
        else
        if (!strncasecmp (alternate, "aka ", 4))
            memmove (alternate, alternate + 4, strlen (alternate + 4) + 1);
        s_trim (alternate);
        s_move_article (alternate);
        if (*alternate)
            out->nalternates++;
    }
    s_move_article (work);
    snprintf (out->title, sizeof out->title, "%s", work);
}

void
title_parsed_to_json (const title_parsed_t *parsed, json_t *record)
{
    if (parsed->nalternates) {
        json_t *alternates = json_array ();
        for (int a = 0; a < parsed->nalternates; a++)
            json_array_append_new (alternates, json_string (parsed->alternates [a]));
        json_object_set_new (record, "alternate_titles", alternates);
    }
    if (parsed->year)
        json_object_set_new (record, "year", json_integer (parsed->year));
}
