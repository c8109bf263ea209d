-- The credits trigger reads only the rows its statement wrote to create the
-- people they name, instead of every credit of those people in the catalog:
-- a person not yet in people has no other credits (every path that stores
-- credits passes through this trigger), so the name is the same, and a
-- batch of the first import no longer re-reads and sorts the catalog's
-- credits of its ~1,500 people twice. The known-for department still counts
-- all of a person's credits.

-- Known-for department: the department of most of a person's credits (a
-- cast credit counts as Acting), ties by name. $1: TMDB person ids.
CREATE FUNCTION people_known_for (ids integer[]) RETURNS void LANGUAGE sql AS $$
    UPDATE people p SET known_for_department = d.dept, updated_at = now ()
    FROM (SELECT DISTINCT ON (person_tmdb_id) person_tmdb_id, dept
          FROM (SELECT person_tmdb_id, CASE WHEN role = 'cast' THEN 'Acting' ELSE department END AS dept,
                       count (*) AS n
                FROM credits WHERE person_tmdb_id = ANY (ids) GROUP BY 1, 2) x
          WHERE dept IS NOT NULL
          ORDER BY person_tmdb_id, n DESC, dept) d
    WHERE p.tmdb_id = d.person_tmdb_id AND p.known_for_department IS DISTINCT FROM d.dept;
$$;

CREATE OR REPLACE FUNCTION people_refresh (ids integer[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO people (tmdb_id, name)
    SELECT DISTINCT ON (c.person_tmdb_id) c.person_tmdb_id, c.person_name
    FROM credits c WHERE c.person_tmdb_id = ANY (ids)
    ORDER BY c.person_tmdb_id, c.role, c.ord
    ON CONFLICT (tmdb_id) DO NOTHING;
    SELECT people_known_for (ids);
$$;

-- A person first named by these credits takes the name of the first of
-- them (cast before crew, by billing order).
CREATE OR REPLACE FUNCTION people_from_credits () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO people (tmdb_id, name)
    SELECT DISTINCT ON (person_tmdb_id) person_tmdb_id, person_name
    FROM fresh WHERE person_tmdb_id IS NOT NULL
    ORDER BY person_tmdb_id, role, ord
    ON CONFLICT (tmdb_id) DO NOTHING;
    PERFORM people_known_for (ARRAY (SELECT DISTINCT person_tmdb_id FROM fresh WHERE person_tmdb_id IS NOT NULL));
    RETURN NULL;
END
$$;
