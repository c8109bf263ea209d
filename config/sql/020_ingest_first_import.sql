-- Two costs of a first import: the queue's JSON round trip and the credits.

-- Queued records as msgpack: indexer.enqueue stores each raw.record as the
-- bus carries it (record), indexer.claim hands the bytes back to the
-- decoder. The jsonb payload made every record a JSON round trip
-- (serialise, parse in the server, print, parse again), most of the
-- indexer's time on a first import. source and source_id say which title a
-- job is without decoding it. payload stays for jobs queued before this
-- migration (claim still reads them).
ALTER TABLE ingest_jobs
    ADD COLUMN record bytea,
    ADD COLUMN source text,
    ADD COLUMN source_id text,
    ALTER COLUMN payload DROP NOT NULL,
    ADD CONSTRAINT ingest_jobs_record_present CHECK (record IS NOT NULL OR payload IS NOT NULL);
ALTER TABLE ingest_jobs ALTER COLUMN record SET COMPRESSION lz4;

-- The claim's byte budget counts what the reply will carry.
ALTER TABLE ingest_jobs DROP COLUMN payload_bytes;
ALTER TABLE ingest_jobs
    ADD COLUMN payload_bytes integer
    GENERATED ALWAYS AS (coalesce (octet_length (record), octet_length (payload::text))) STORED;

-- Credits: one index and one department count less per first import.
-- Nothing looks credits up by lower (person_name) (search reads people by
-- name, credits by title or TMDB person id), yet every credit paid for it.
DROP INDEX IF EXISTS credits_person_idx;

-- A person this statement's credits add to people has no other credits
-- (every path that stores credits passes through this trigger, see 016), so
-- the known-for department comes from those credits alone, with the row;
-- only people already known (or added meanwhile by a concurrent batch,
-- whose insert this one waited for) have all their credits counted. On a
-- first import that is most people of a batch spared the count.
CREATE OR REPLACE FUNCTION people_from_credits () RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added integer[];
BEGIN
    WITH dept AS (
        SELECT DISTINCT ON (person_tmdb_id) person_tmdb_id, dept
        FROM (SELECT person_tmdb_id, CASE WHEN role = 'cast' THEN 'Acting' ELSE department END AS dept,
                     count (*) AS n
              FROM fresh WHERE person_tmdb_id IS NOT NULL GROUP BY 1, 2) x
        WHERE dept IS NOT NULL
        ORDER BY person_tmdb_id, n DESC, dept),
    ins AS (
        INSERT INTO people (tmdb_id, name, known_for_department)
        SELECT DISTINCT ON (f.person_tmdb_id) f.person_tmdb_id, f.person_name, d.dept
        FROM fresh f LEFT JOIN dept d USING (person_tmdb_id)
        WHERE f.person_tmdb_id IS NOT NULL
        ORDER BY f.person_tmdb_id, f.role, f.ord
        ON CONFLICT (tmdb_id) DO NOTHING
        RETURNING tmdb_id)
    SELECT array_agg (tmdb_id) INTO added FROM ins;
    PERFORM people_known_for (ARRAY (SELECT person_tmdb_id FROM fresh WHERE person_tmdb_id IS NOT NULL
                                     EXCEPT SELECT unnest (coalesce (added, '{}'::integer[]))));
    RETURN NULL;
END
$$;
