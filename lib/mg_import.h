/*  List files users bring from elsewhere (POST /api/v1/me/import): an IMDb
    list or ratings export, a Letterboxd watchlist or diary export, a Trakt
    JSON export (or one item per line, NDJSON), or a plain title,year list.
    The format is told by the header (CSV) or the items' shape (JSON), and
    each row becomes a title to resolve plus what to do with it.  */
#ifndef MG_IMPORT_H_INCLUDED
#define MG_IMPORT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_IMPORT_ROWS_MAX    100000    //  rows a file may hold (5 MB of short CSV lines is ~150k)
#define MG_IMPORT_TITLE_MAX   512       //  bytes of a title kept (POST /resolve takes 1,000)

typedef enum {
    MG_IMPORT_IMDB = 0,                 //  IMDb list export (Const, Title, Title Type, Year, ...)
    MG_IMPORT_IMDB_RATINGS,             //  IMDb ratings export (Const, Your Rating, Date Rated, ...)
    MG_IMPORT_LETTERBOXD_WATCHLIST,     //  Date, Name, Year, Letterboxd URI
    MG_IMPORT_LETTERBOXD_DIARY,         //  ... Rating, Rewatch, Tags, Watched Date
    MG_IMPORT_TRAKT,                    //  Trakt JSON: watchlist or history items ({movie|show: {...}})
    MG_IMPORT_PLAIN,                    //  title,year (type optional)
    MG_IMPORT_FORMATS
} mg_import_format_t;

//  One row of a file.
typedef struct {
    size_t line;                        //  where the row ends in the file, from 1
    char *title;                        //  never NULL
    unsigned year;                      //  0: not given
    char type [8];                      //  "movie", "tv" or "" (unknown)
    char imdb [16];                     //  "tt..." or ""
    int64_t tmdb;                       //  0: not given
    bool watched;                       //  seen (ratings, diary, history): set as completed
} mg_import_row_t;

typedef struct {
    mg_import_format_t format;
    mg_import_row_t *rows;
    size_t count;
} mg_import_t;

//  Parse the file data (len bytes) of media type content_type (text/csv,
//  application/json or application/x-ndjson; parameters ignored) into out.
//  Returns 0 (caller clears out), or -1 with err saying what is wrong and
//  *line the line at fault (0 when none: an unknown header is line 1).
int mg_import_parse (const char *data, size_t len, const char *content_type, mg_import_t *out,
                     char *err, size_t errlen, size_t *line);

//  Free what out holds; out is empty after.
void mg_import_clear (mg_import_t *out);

//  The format's name in replies ("imdb", "letterboxd-diary", ...).
const char *mg_import_format_name (mg_import_format_t format);

#endif
