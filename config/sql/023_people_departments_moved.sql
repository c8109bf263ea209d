-- A credits statement counts a known person's credits only when its rows
-- can move the person's department.
--
-- A person's known-for department is the department of most of their
-- credits (ties by name). Credits added in the department the person is
-- already known for only raise that department's count, so the count would
-- give the same department back: on a first import most known people of a
-- batch (actors acting again) were counted over all their credits for an
-- update that changed nothing. The credits trigger now counts only the
-- people whose new rows name another department.
--
-- That holds while every person's department matches their stored credits,
-- so deleting credits now counts again the people they named (a changed
-- title's credits are deleted, then copied back; a title deleted takes its
-- credits along), and this migration counts every person once.

-- The department a credit counts for: a cast credit counts as Acting.
CREATE FUNCTION credit_department (role text, department text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN role = 'cast' THEN 'Acting' ELSE department END
$$;

CREATE OR REPLACE FUNCTION people_from_credits () RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added integer[];
BEGIN
    WITH dept AS (
        SELECT DISTINCT ON (person_tmdb_id) person_tmdb_id, dept
        FROM (SELECT person_tmdb_id, credit_department (role, department) AS dept, count (*) AS n
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
    -- People stored before (or by a concurrent batch whose insert this one
    -- waited for) with a new credit in another department than theirs.
    PERFORM people_known_for (ARRAY (
        SELECT f.person_tmdb_id
        FROM fresh f JOIN people p ON p.tmdb_id = f.person_tmdb_id
        WHERE credit_department (f.role, f.department) IS NOT NULL
          AND credit_department (f.role, f.department) IS DISTINCT FROM p.known_for_department
        EXCEPT SELECT unnest (coalesce (added, '{}'::integer[]))));
    RETURN NULL;
END
$$;

-- Credits deleted: their people are counted over the credits left.
CREATE FUNCTION people_from_deleted_credits () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM people_known_for (ARRAY (SELECT DISTINCT person_tmdb_id FROM gone WHERE person_tmdb_id IS NOT NULL));
    RETURN NULL;
END
$$;

CREATE TRIGGER credits_people_deleted AFTER DELETE ON credits
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION people_from_deleted_credits ();

SELECT people_known_for (ARRAY (SELECT tmdb_id FROM people));
