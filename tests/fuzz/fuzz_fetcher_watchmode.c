/*  libFuzzer: Watchmode sources bodies through watchmode_parse_sources. Whatever the parser
    accepts must pass the schema's strict decoder.  */
#include "fuzz_fetcher.h"
#include "providers.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    char err [256];
    fuzz_fetcher_check_items (watchmode_parse_sources (text, size, err, sizeof err), &mg_raw_availability_desc);
    return 0;
}
