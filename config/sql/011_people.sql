-- People as entities of their own: one row per person a credit names, with a
-- canonical id (like content) and the TMDB person id. Credits keep the
-- person's name and TMDB id as the source gave them; a person is found from
-- a credit by that TMDB id (credits_person_tmdb_idx). A credit without a TMDB
-- person id names nobody here.
CREATE TABLE people (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tmdb_id              integer NOT NULL UNIQUE,
    name                 text NOT NULL,
    known_for_department text,
    profile_path         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_name_idx ON people (lower(name));
CREATE INDEX credits_person_tmdb_idx ON credits (person_tmdb_id) WHERE person_tmdb_id IS NOT NULL;

-- Known-for department: the department of most of a person's credits (a
-- cast credit counts as Acting), ties by name. $1: TMDB person ids.
CREATE FUNCTION people_refresh (ids integer[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO people (tmdb_id, name)
    SELECT DISTINCT ON (c.person_tmdb_id) c.person_tmdb_id, c.person_name
    FROM credits c WHERE c.person_tmdb_id = ANY (ids)
    ORDER BY c.person_tmdb_id, c.role, c.ord
    ON CONFLICT (tmdb_id) DO NOTHING;
    UPDATE people p SET known_for_department = d.dept, updated_at = now ()
    FROM (SELECT DISTINCT ON (person_tmdb_id) person_tmdb_id, dept
          FROM (SELECT person_tmdb_id, CASE WHEN role = 'cast' THEN 'Acting' ELSE department END AS dept,
                       count (*) AS n
                FROM credits WHERE person_tmdb_id = ANY (ids) GROUP BY 1, 2) x
          WHERE dept IS NOT NULL
          ORDER BY person_tmdb_id, n DESC, dept) d
    WHERE p.tmdb_id = d.person_tmdb_id AND p.known_for_department IS DISTINCT FROM d.dept;
$$;

-- The indexer writes credits in set-based statements; one statement-level
-- trigger turns the people they name into rows (one pass per statement,
-- not per credit), so every path that stores credits fills people.
CREATE FUNCTION people_from_credits () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM people_refresh (ARRAY (SELECT DISTINCT person_tmdb_id FROM fresh WHERE person_tmdb_id IS NOT NULL));
    RETURN NULL;
END
$$;
CREATE TRIGGER credits_people AFTER INSERT ON credits
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION people_from_credits ();

-- The people of credits stored before this migration.
SELECT people_refresh (ARRAY (SELECT DISTINCT person_tmdb_id FROM credits WHERE person_tmdb_id IS NOT NULL));
