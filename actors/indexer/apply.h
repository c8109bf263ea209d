/*  Internal to the indexer's apply path (apply.c, rebuild.c, sql.c): the
    batch being applied and the statement helpers its steps share.  */
#ifndef APPLY_H_INCLUDED
#define APPLY_H_INCLUDED

#include "indexer.h"
#include <sodium.h>

#define HEX_SHA256  (crypto_hash_sha256_BYTES * 2 + 1)

typedef struct {
    char job [24];                //  "" when the item has no job
    char entity [40];
    char source [40];
    char source_id [80];
    json_t *record;               //  normalised record as JSON
    char *text;                   //  ... as text, keys sorted: checksummed and stored
    char checksum [HEX_SHA256];
    int tier;
    double confidence;
    bool merge;                   //  joined an existing entity (entity_merges row)
    bool changed;
    bool known;                   //  content_sources has the record already
    const char *error;            //  rejected: reason
    char error_text [256];
} indexer_item_t;

typedef struct {
    indexer_item_t *items;
    size_t count;
    zhashx_t *created;            //  entity ids made by this batch
    json_t *events;               //  [{stream, content_id, version}] to publish after commit
} indexer_batch_t;

//  SQLSTATE of the last statement indexer_sql saw fail on this thread: whether a
//  refused batch is the records' fault or the database's (mg_pg_transient).
extern _Thread_local char indexer_failed_state [8];

//  Run sql with text params; returns the result or NULL (reason in err, one line).
PGresult *indexer_sql (PGconn *pg, char *err, size_t errlen, const char *sql, int nparams,
                       const char *const *params);

//  Same, discarding the result; 0 or -1.
int indexer_run (PGconn *pg, char *err, size_t errlen, const char *sql, int nparams, const char *const *params);

//  indexer_copy_send with the failure noted as indexer_sql notes it; 0 or -1.
int indexer_copy_run (PGconn *pg, const char *sql, indexer_copy_t *rows, char *err, size_t errlen);

//  JSON text of value (caller frees), never NULL for a valid value.
char *indexer_dump (json_t *value);

//  Hex SHA-256 of text.
void indexer_sha256 (const char *text, char out [HEX_SHA256]);

//  Checksum of a JSON value (keys sorted, compact); 0 or -1.
int indexer_checksum (json_t *value, char out [HEX_SHA256]);

//  Steps F-I: rebuild the canonical rows of the entities that changed.
int indexer_rebuild (PGconn *pg, indexer_batch_t *batch, char *err, size_t errlen);

#define P(...) ((const char *const []) { __VA_ARGS__ })

#endif
