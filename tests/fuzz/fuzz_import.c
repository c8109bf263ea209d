/*  libFuzzer: import files (lib/mg_import.c) from arbitrary bytes. The first
    byte picks the media type; the rest is the file. Nothing may crash or
    leak; a success holds only rows with a title or an id, on lines that
    exist in the file, and a failure holds no rows.  */
#include "mg_import.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const s_types [] = { "text/csv", "application/json", "application/x-ndjson" };

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *type = s_types [data [0] % 3];
    const char *text = (const char *) data + 1;
    size_t len = size - 1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text [i] == '\n';
    mg_import_t out;
    char err [256];
    size_t line;
    if (mg_import_parse (text, len, type, &out, err, sizeof err, &line) == 0) {
        for (size_t i = 0; i < out.count; i++) {
            const mg_import_row_t *row = &out.rows [i];
            if ((!row->title [0] && !row->imdb [0] && row->tmdb <= 0) || row->line < 1 || row->line > lines
            ||  strlen (row->title) > MG_IMPORT_TITLE_MAX || row->year > 9999)
                abort ();
        }
        mg_import_clear (&out);
    }
    else
    if (out.rows || out.count || line > lines || !err [0])
        abort ();
    return 0;
}
