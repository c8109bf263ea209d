-- Batches of credits applied side by side (the resolver's MG_RESOLVER_APPLIES
-- apply threads, or several resolvers) take the credits trigger's people work
-- in turn, each from its start to its transaction's commit.
--
-- A person's known-for department counts all of their credits. Two batches
-- naming the same known person in parallel would each count the catalog
-- without the other's uncommitted credits, and the one that committed last
-- would store a department that leaves the other's credits out. Holding one
-- transaction-level lock from the counting to the commit makes the later
-- batch count after the earlier one committed, so the last count is over
-- every credit. Only the trigger waits: the credits rows, their indexes and
-- everything a batch writes before them go on side by side. A batch holds no
-- people row when it waits here (it touches people only inside this trigger
-- and after it), so batches do not deadlock on people either.
CREATE OR REPLACE FUNCTION people_from_credits () RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added integer[];
BEGIN
    -- 7,823,011: this lock's own number (no other code takes it).
    PERFORM pg_advisory_xact_lock (7823011);
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
