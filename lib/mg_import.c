/*  Import files: format detection and row extraction (mg_import.h).

    Column layouts, as the services publish their exports:
      IMDb list        Position,Const,Created,Modified,Description,Title,
                       [Original Title,]URL,Title Type,IMDb Rating,Runtime (mins),
                       Year,Genres,Num Votes,Release Date,Directors[,Your Rating,Date Rated]
      IMDb ratings     Const,Your Rating,Date Rated,Title,[Original Title,]URL,Title Type,...
      Letterboxd       watchlist.csv: Date,Name,Year,Letterboxd URI
                       diary.csv: Date,Name,Year,Letterboxd URI,Rating,Rewatch,Tags,Watched Date
      Trakt            JSON arrays of items {type?, movie|show: {title, year, ids:{imdb, tmdb, ...}}};
                       history and watched items carry watched_at, last_watched_at or plays
      plain            title,year[,type]
    CSV goes through libcsv (mg_csv_parse). Every row needs a title (or an
    IMDb or TMDB id to resolve by); a year, when given, must be a year.  */
#include "mg_import.h"
#include "mg_csv.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define YEAR_MAX 9999

static const char *const s_names [MG_IMPORT_FORMATS] = {
    "imdb", "imdb-ratings", "letterboxd-watchlist", "letterboxd-diary", "trakt", "plain"
};

const char *
mg_import_format_name (mg_import_format_t format)
{
    return format < MG_IMPORT_FORMATS ? s_names [format] : "unknown";
}

void
mg_import_clear (mg_import_t *out)
{
    for (size_t i = 0; out->rows && i < out->count; i++)
        free (out->rows [i].title);
    free (out->rows);
    out->rows = NULL;
    out->count = 0;
}

//  Parse state shared by the readers.
typedef struct {
    mg_import_t *out;
    size_t room;
    char *err;
    size_t errlen;
    size_t line;                        //  of the failure
    bool failed;
    //  CSV: the header's columns (-1: absent)
    bool header_seen;
    int title, year, type, imdb, watched_at, rated_at;
} s_parse_t;

//  Fail at line with a message; returns -1.
static int
s_fail (s_parse_t *self, size_t line, const char *fmt, const char *arg)
{
    snprintf (self->err, self->errlen, fmt, arg);
    self->line = line;
    self->failed = true;
    return -1;
}

//  Year text (may be empty) into *year: 0 for empty. Returns 0 or -1.
static int
s_year (const char *text, unsigned *year)
{
    *year = 0;
    while (*text == ' ')
        text++;
    if (!*text)
        return 0;
    char *end = NULL;
    unsigned long value = strtoul (text, &end, 10);
    while (end && *end == ' ')
        end++;
    if (!isdigit ((unsigned char) *text) || !end || *end || value > YEAR_MAX)
        return -1;
    *year = (unsigned) value;
    return 0;
}

//  Our type of an IMDb "Title Type" or a Trakt item type ("" when neither).
static const char *
s_type (const char *text)
{
    //  IMDb's exports used the ids (tvSeries), they now use the display names (TV Series).
    static const char *const movies [] = {
        "movie", "tvMovie", "TV Movie", "video", "short", "film", "TV Special", "tvSpecial"
    };
    static const char *const series [] = {
        "tv", "tvSeries", "TV Series", "tvMiniSeries", "TV Mini Series", "show", "series"
    };
    for (size_t i = 0; text && i < sizeof movies / sizeof movies [0]; i++)
        if (strcasecmp (text, movies [i]) == 0)
            return "movie";
    for (size_t i = 0; text && i < sizeof series / sizeof series [0]; i++)
        if (strcasecmp (text, series [i]) == 0)
            return "tv";
    return "";
}

//  True when text is an IMDb title id: "tt" and 7 or 8 digits.
static bool
s_is_imdb (const char *text)
{
    size_t len = text ? strlen (text) : 0;
    return (len == 9 || len == 10) && text [0] == 't' && text [1] == 't'
        && strspn (text + 2, "0123456789") == len - 2;
}

//  Append a row (title copied, at most MG_IMPORT_TITLE_MAX bytes). Returns 0 or -1.
static int
s_add (s_parse_t *self, size_t line, const char *title, unsigned year, const char *type,
       const char *imdb, int64_t tmdb, bool watched)
{
    mg_import_t *out = self->out;
    while (title && (*title == ' ' || *title == '\t'))
        title++;
    bool has_id = s_is_imdb (imdb) || tmdb > 0;
    if ((!title || !*title) && !has_id)
        return s_fail (self, line, "%s", "a row needs a title (or an IMDb or TMDB id)");
    if (out->count == MG_IMPORT_ROWS_MAX)
        return s_fail (self, line, "more than %s rows", "100000");
    if (out->count == self->room) {
        size_t room = self->room ? self->room * 2 : 64;
        mg_import_row_t *rows = realloc (out->rows, room * sizeof *rows);
        if (!rows)
            return s_fail (self, line, "%s", "out of memory");
        out->rows = rows;
        self->room = room;
    }
    mg_import_row_t *row = &out->rows [out->count];
    memset (row, 0, sizeof *row);
    size_t len = title ? strnlen (title, MG_IMPORT_TITLE_MAX) : 0;
    //  Keep whole UTF-8 characters when cutting a long title.
    while (len > 0 && title [len] && ((unsigned char) title [len] & 0xC0) == 0x80)
        len--;
    row->title = malloc (len + 1);
    if (!row->title)
        return s_fail (self, line, "%s", "out of memory");
    if (len)
        memcpy (row->title, title, len);
    row->title [len] = '\0';
    row->line = line;
    row->year = year;
    snprintf (row->type, sizeof row->type, "%s", type ? type : "");
    if (s_is_imdb (imdb))
        snprintf (row->imdb, sizeof row->imdb, "%s", imdb);
    row->tmdb = tmdb > 0 ? tmdb : 0;
    row->watched = watched;
    out->count++;
    return 0;
}

//  Column of name in header (case-insensitive, spaces trimmed), or -1.
static int
s_column (char **header, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        const char *h = header [i];
        while (*h == ' ')
            h++;
        size_t len = strlen (h);
        while (len && h [len - 1] == ' ')
            len--;
        if (len == strlen (name) && strncasecmp (h, name, len) == 0)
            return (int) i;
    }
    return -1;
}

//  Tell the CSV format from its header row. Returns 0 or -1.
static int
s_csv_header (s_parse_t *self, char **fields, size_t count, size_t line)
{
    int cons = s_column (fields, count, "Const");
    int uri = s_column (fields, count, "Letterboxd URI");
    self->imdb = cons;
    self->type = s_column (fields, count, "Title Type");
    self->watched_at = s_column (fields, count, "Watched Date");
    self->rated_at = s_column (fields, count, "Date Rated");
    self->year = s_column (fields, count, "Year");
    if (cons >= 0 && (self->title = s_column (fields, count, "Title")) >= 0) {
        //  A ratings export starts with Const; a list export with Position.
        self->out->format = cons == 0 && self->rated_at >= 0 ? MG_IMPORT_IMDB_RATINGS : MG_IMPORT_IMDB;
        return 0;
    }
    if (uri >= 0 && (self->title = s_column (fields, count, "Name")) >= 0) {
        self->out->format = self->watched_at >= 0 ? MG_IMPORT_LETTERBOXD_DIARY : MG_IMPORT_LETTERBOXD_WATCHLIST;
        self->type = -1;
        return 0;
    }
    if ((self->title = s_column (fields, count, "title")) >= 0 && self->year >= 0 && cons < 0 && uri < 0) {
        self->out->format = MG_IMPORT_PLAIN;
        self->type = s_column (fields, count, "type");
        return 0;
    }
    return s_fail (self, line, "%s", "unknown CSV header: expected an IMDb list or ratings export, a Letterboxd "
                                     "watchlist or diary export, or title,year");
}

//  The field at column (NULL when the column is absent or the row short).
static const char *
s_field (char **fields, size_t count, int column)
{
    return column >= 0 && (size_t) column < count ? fields [column] : NULL;
}

//  mg_csv_parse callback: the header, then one row per title.
static int
s_on_csv_row (char **fields, size_t count, size_t line, void *arg)
{
    s_parse_t *self = arg;
    if (!self->header_seen) {
        self->header_seen = true;
        //  A UTF-8 byte order mark before the first column name.
        if (count && (unsigned char) fields [0][0] == 0xEF && (unsigned char) fields [0][1] == 0xBB
        &&  (unsigned char) fields [0][2] == 0xBF)
            memmove (fields [0], fields [0] + 3, strlen (fields [0] + 3) + 1);
        return s_csv_header (self, fields, count, line);
    }
    //  A blank line, or the LF of a CRLF (libcsv reports each as a row end).
    if (count == 0 || (count == 1 && fields [0][0] == '\0'))
        return 0;
    unsigned year = 0;
    const char *year_text = s_field (fields, count, self->year);
    if (year_text && s_year (year_text, &year))
        return s_fail (self, line, "Year '%.16s' is not a year", year_text);
    const char *type = self->out->format == MG_IMPORT_LETTERBOXD_WATCHLIST
                    || self->out->format == MG_IMPORT_LETTERBOXD_DIARY
                     ? "movie" : s_type (s_field (fields, count, self->type));
    const char *watched = s_field (fields, count, self->watched_at);
    const char *rated = s_field (fields, count, self->rated_at);
    bool seen = (watched && *watched) || (rated && *rated);
    return s_add (self, line, s_field (fields, count, self->title), year, type,
                  s_field (fields, count, self->imdb), 0, seen);
}

//  One Trakt item (or a plain {title, year} object) at line. Returns 0 or -1.
static int
s_json_item (s_parse_t *self, const json_t *item, size_t line)
{
    if (!json_is_object (item))
        return s_fail (self, line, "%s", "an item must be a JSON object");
    const char *kind = json_string_value (json_object_get (item, "type"));
    const json_t *media = json_object_get (item, "movie");
    const char *type = "movie";
    if (!json_is_object (media)) {
        media = json_object_get (item, "show");
        type = "tv";
    }
    if (!json_is_object (media)) {
        //  Episodes and seasons name their show: the show is what is listed.
        if (kind && (strcmp (kind, "episode") == 0 || strcmp (kind, "season") == 0))
            return s_fail (self, line, "%s", "an episode or season item needs its show object");
        media = item;
        type = s_type (kind);
    }
    const json_t *year = json_object_get (media, "year");
    if (year && !json_is_null (year) && (!json_is_integer (year) || json_integer_value (year) < 0
                                      || json_integer_value (year) > YEAR_MAX))
        return s_fail (self, line, "%s", "year must be a whole number of at most 4 digits");
    const json_t *ids = json_object_get (media, "ids");
    const json_t *tmdb = json_object_get (ids, "tmdb");
    bool watched = json_object_get (item, "watched_at") || json_object_get (item, "last_watched_at")
                || json_object_get (item, "plays");
    return s_add (self, line, json_string_value (json_object_get (media, "title")),
                  year ? (unsigned) json_integer_value (year) : 0, type,
                  json_string_value (json_object_get (ids, "imdb")),
                  json_is_integer (tmdb) ? (int64_t) json_integer_value (tmdb) : 0, watched);
}

//  Line number (from 1) of byte offset at in data.
static size_t
s_line_of (const char *data, size_t at)
{
    size_t line = 1;
    for (size_t i = 0; i < at; i++)
        line += data [i] == '\n';
    return line;
}

//  The line each item of the document's item array starts on (depth: 1
//  for a top-level array, 2 for one wrapped in an object), for up to count
//  items into lines. jansson keeps no positions, so the text is scanned
//  once, outside strings, for the values that open at that depth.
static void
s_item_lines (const char *data, size_t len, int depth, size_t *lines, size_t count)
{
    int at_depth = 0;
    bool in_string = false, escaped = false, expect = false;
    size_t line = 1, found = 0;
    for (size_t i = 0; i < len && found < count; i++) {
        char c = data [i];
        if (c == '\n')
            line++;
        if (in_string) {
            if (escaped)
                escaped = false;
            else
            if (c == '\\')
                escaped = true;
            else
            if (c == '"')
                in_string = false;
            continue;
        }
        if (expect && at_depth == depth && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ']') {
            lines [found++] = line;
            expect = false;
        }
        if (c == '"')
            in_string = true;
        else
        if (c == '[' || c == '{') {
            at_depth++;
            expect = at_depth == depth && c == '[';
        }
        else
        if (c == ']' || c == '}')
            at_depth--;
        else
        if (c == ',' && at_depth == depth)
            expect = true;
    }
}

//  A JSON document: an array of items (Trakt exports), or an object with
//  one array of them (e.g. {"watchlist": [...]}).
static int
s_json (s_parse_t *self, const char *data, size_t len)
{
    json_error_t error;
    json_t *doc = json_loadb (data, len, 0, &error);
    if (!doc)
        return s_fail (self, (size_t) (error.line > 0 ? error.line : 1), "invalid JSON: %s", error.text);
    const json_t *items = doc;
    if (json_is_object (doc) && json_object_size (doc) == 1)
        items = json_object_iter_value (json_object_iter (doc));
    int rc = 0;
    size_t count = json_array_size (items);
    size_t *lines = calloc (count ? count : 1, sizeof (size_t));
    if (!json_is_array (items))
        rc = s_fail (self, 1, "%s", "expected a JSON array of items (a Trakt export)");
    else
    if (!lines)
        rc = s_fail (self, 1, "%s", "out of memory");
    else
        s_item_lines (data, len, items == doc ? 1 : 2, lines, count);
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item)
        if (rc == 0)
            rc = s_json_item (self, item, lines [index] ? lines [index] : 1);
    self->out->format = MG_IMPORT_TRAKT;
    free (lines);
    json_decref (doc);
    return rc;
}

//  NDJSON: one item per line; blank lines are skipped.
static int
s_ndjson (s_parse_t *self, const char *data, size_t len)
{
    self->out->format = MG_IMPORT_TRAKT;
    size_t at = 0, line = 1;
    while (at < len) {
        const char *nl = memchr (data + at, '\n', len - at);
        size_t n = nl ? (size_t) (nl - (data + at)) : len - at;
        size_t blank = 0;
        while (blank < n && isspace ((unsigned char) data [at + blank]))
            blank++;
        if (blank < n) {
            json_error_t error;
            json_t *item = json_loadb (data + at, n, 0, &error);
            if (!item)
                return s_fail (self, line, "invalid JSON: %s", error.text);
            int rc = s_json_item (self, item, line);
            json_decref (item);
            if (rc)
                return -1;
        }
        at += n + 1;
        line++;
    }
    return 0;
}

//  True when content_type names type (parameters ignored).
static bool
s_is_type (const char *content_type, const char *type)
{
    size_t len = strlen (type);
    while (*content_type == ' ')
        content_type++;
    return strncasecmp (content_type, type, len) == 0
        && (content_type [len] == '\0' || content_type [len] == ';' || content_type [len] == ' ');
}

int
mg_import_parse (const char *data, size_t len, const char *content_type, mg_import_t *out,
                 char *err, size_t errlen, size_t *line)
{
    *out = (mg_import_t) { 0 };
    *line = 0;
    s_parse_t self = { .out = out, .err = err, .errlen = errlen };
    int rc;
    if (memchr (data, '\0', len)) {
        rc = s_fail (&self, s_line_of (data, (size_t) ((const char *) memchr (data, '\0', len) - data)),
                     "%s", "the file holds a NUL byte: not a text file");
    }
    else
    if (content_type && s_is_type (content_type, "text/csv")) {
        size_t csv_line = 0;
        rc = mg_csv_parse (data, len, s_on_csv_row, &self, err, errlen, &csv_line);
        if (rc == -1)
            self.line = csv_line;
        else
        if (rc == 0 && !self.header_seen)
            rc = s_fail (&self, 1, "%s", "the file is empty");
        else
            rc = self.failed ? -1 : 0;
    }
    else
    if (content_type && s_is_type (content_type, "application/json"))
        rc = s_json (&self, data, len);
    else
    if (content_type && s_is_type (content_type, "application/x-ndjson"))
        rc = s_ndjson (&self, data, len);
    else
        rc = s_fail (&self, 0, "unsupported media type %.64s: use text/csv, application/json or "
                               "application/x-ndjson", content_type ? content_type : "(none)");
    if (rc) {
        *line = self.line;
        mg_import_clear (out);
        return -1;
    }
    return 0;
}
