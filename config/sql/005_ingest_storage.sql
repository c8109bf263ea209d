-- Size of a job's payload, computed once at enqueue: indexer.claim fills
-- its reply up to a byte budget without converting every payload to text.
ALTER TABLE ingest_jobs
    ADD COLUMN payload_bytes integer GENERATED ALWAYS AS (octet_length (payload::text)) STORED;

-- Raw records are written once and read once or twice: lz4 compresses them
-- several times faster than the default pglz.
ALTER TABLE ingest_jobs ALTER COLUMN payload SET COMPRESSION lz4;
ALTER TABLE content_sources ALTER COLUMN record SET COMPRESSION lz4;
