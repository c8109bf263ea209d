/*  Normalisation of a raw record into the canonical model, in place:
    type movie|tv; genres as canonical slugs (names and provider ids mapped);
    year from the release date; ISO 639 language; availability with a
    platform slug, an ISO 3166-1 alpha-2 region, type subscription|rent|buy|
    free|ads, quality sd|hd|uhd|hdr, an ISO 4217 currency, and a deep link.  */
#ifndef RESOLVER_NORMALIZE_H_INCLUDED
#define RESOLVER_NORMALIZE_H_INCLUDED

#include "genres.h"
#include "mg_msg.h"

//  Normalise record. Returns 0, or -1 with a reason when the record cannot
//  be represented (e.g. an unknown region or offer type).
int normalize_record (mg_raw_record_t *record, char *err, size_t errlen);

//  Canonical genre set of a (normalised or raw) record.
genre_set_t normalize_genres (const mg_raw_record_t *record);

#endif
