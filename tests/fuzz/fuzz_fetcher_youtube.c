/*  libFuzzer: YouTube search bodies through youtube_parse_search (and the quota-error check). Whatever the parser
    accepts must pass the schema's strict decoder.  */
#include "fuzz_fetcher.h"
#include "providers.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    char err [256];
    (void) youtube_is_quota_exceeded (text, size);
    fuzz_fetcher_check_items (youtube_parse_search (text, size, err, sizeof err), &mg_raw_video_desc);
    return 0;
}
