/*  SQL fragments shared by the catalog and search read queries: how a stored content
    row (alias c) becomes the JSON of its public fields. Compile-time string
    literals only; every value reaches PostgreSQL as a query parameter.  */
#ifndef MG_CATALOG_SQL_H_INCLUDED
#define MG_CATALOG_SQL_H_INCLUDED

//  TMDB stores image paths ("/abc.jpg"); its image CDN serves them at a
//  chosen width. Other sources give full URLs, passed through as they are.
#define SQL_IMAGE(column, width) \
    "CASE WHEN " column " LIKE '/%' THEN 'https://image.tmdb.org/t/p/" width "' || " column \
    " ELSE " column " END"

//  RFC 3339 in UTC of a timestamptz column.
#define SQL_RFC3339(column) \
    "to_char (" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

//  Genre slugs of c, in genre id order (always an array).
#define SQL_GENRES \
    "coalesce ((SELECT jsonb_agg (g.slug ORDER BY g.id) FROM content_genres cg " \
    "JOIN genres g ON g.id = cg.genre_id WHERE cg.content_id = c.id), '[]'::jsonb)"

//  {tmdb, imdb, eidr, tvdb, watchmode} of c (always an object); the TMDB id
//  is an integer, and dropped should a source ever store a non-numeric one.
#define SQL_EXTERNAL_IDS \
    "coalesce ((SELECT jsonb_object_agg (e.source, CASE WHEN e.source <> 'tmdb' THEN to_jsonb (e.value) " \
    "WHEN e.value ~ '^[0-9]{1,15}$' THEN to_jsonb (e.value::bigint) END) FROM external_ids e " \
    "WHERE e.content_id = c.id AND e.source IN ('tmdb', 'imdb', 'eidr', 'tvdb', 'watchmode')), '{}'::jsonb)"

//  An availability row (alias a) as an offer (catalog.offer).
#define SQL_OFFER(a) \
    "jsonb_build_object ('platform', " a ".platform, 'region', " a ".region, 'type', " a ".type, " \
    "'quality', " a ".quality, 'price', " a ".price, 'currency', " a ".currency, " \
    "'deep_link', " a ".deep_link, 'expires_at', " SQL_RFC3339 (a ".expires_at") ", " \
    "'stale', " a ".stale, 'updated_at', " SQL_RFC3339 (a ".updated_at") ")"

//  An availability row (alias a) as a list item's offer (catalog.item_offer):
//  what its platform group (SQL_ITEM_OFFERS) does not say once for all its
//  offers, without the bookkeeping GET /content/{id}/availability and
//  details carry (updated_at; stale only when true).
#define SQL_ITEM_OFFER(a) \
    "(jsonb_build_object ('type', " a ".type, 'quality', " a ".quality, 'price', " a ".price, " \
    "'currency', " a ".currency, 'expires_at', " SQL_RFC3339 (a ".expires_at") ") " \
    "|| CASE WHEN " a ".stale THEN '{\"stale\": true}'::jsonb ELSE '{}'::jsonb END)"

//  Offers of c shown in a list item (catalog.item_platform groups): the
//  current ones (expired rows wait for the next refresh to delete them) of
//  region o (a parameter; NULL: every region, offers_region=all), at most
//  max (a number literal; SQL_ITEM_OFFERS: SQL_ITEM_OFFERS_MAX), grouped by region, platform and deep link, so a
//  platform's link is written once for its rent, buy and subscription
//  offers; a group names its region only for every region (o NULL), the
//  page names the one region otherwise. Region and deep link were over a
//  quarter of a search page's bytes when every offer carried them.
#define SQL_ITEM_OFFERS_MAX "256"
#define SQL_ITEM_OFFERS(o) SQL_ITEM_OFFERS_OF (o, SQL_ITEM_OFFERS_MAX)
#define SQL_ITEM_OFFERS_OF(o, max) \
    "coalesce ((SELECT jsonb_agg (jsonb_strip_nulls (jsonb_build_object ('platform', g.platform, " \
    "'region', CASE WHEN " o "::text IS NULL THEN g.region END, 'deep_link', g.deep_link)) " \
    "|| jsonb_build_object ('offers', g.offers) ORDER BY g.region, g.platform, g.deep_link) " \
    "FROM (SELECT a.region, a.platform, a.deep_link, jsonb_agg (" SQL_ITEM_OFFER ("a") " ORDER BY a.type) AS offers " \
    "      FROM (SELECT * FROM availability WHERE content_id = c.id " \
    "            AND (expires_at IS NULL OR expires_at > now ()) AND (" o "::text IS NULL OR region = " o "::bpchar) " \
    "            ORDER BY region, platform, type LIMIT " max ") a " \
    "      GROUP BY a.region, a.platform, a.deep_link) g), '[]'::jsonb)"

//  Conditions on an availability row (alias a) of an offer watchable now on
//  one of services (a JSON array of platform slugs, parameter p).
#define SQL_MINE_OFFER(a, p) \
    "AND " a ".platform IN (SELECT jsonb_array_elements_text (" p "::jsonb)) " \
    "AND (" a ".expires_at IS NULL OR " a ".expires_at > now ())"

//  The on_my_services key of a title c: an empty object when services
//  (parameter s, a JSON array) is NULL (anonymous callers), else the
//  services c is watchable on now in region (parameter r).
#define SQL_MINE_MARK(s, r) \
    "CASE WHEN " s "::jsonb IS NULL THEN '{}'::jsonb ELSE jsonb_build_object ('on_my_services', " \
    "coalesce ((SELECT jsonb_agg (DISTINCT a.platform ORDER BY a.platform) FROM availability a " \
    "WHERE a.content_id = c.id AND a.region = " r "::bpchar " SQL_MINE_OFFER ("a", s) "), '[]'::jsonb)) END"

//  available=mine on a title c: when flag (parameter f) is true, only
//  titles watchable now on services s in region r.
#define SQL_MINE_WHERE(f, s, r) \
    "AND (" f "::boolean IS NOT TRUE OR EXISTS (SELECT 1 FROM availability a " \
    "WHERE a.content_id = c.id AND a.region = " r "::bpchar " SQL_MINE_OFFER ("a", s) "))"

//  A list item's overview (c.overview): up to SQL_ITEM_OVERVIEW_MAX
//  characters as it is; a longer one cut after its last whole word within
//  them (or at the limit, for text without spaces) and ended with "..."
//  (U+2026). The synopsis was a quarter of a list page's bytes; a list
//  shows a few lines of it, and details carry the full text.
#define SQL_ITEM_OVERVIEW_MAX "160"
#define SQL_ITEM_OVERVIEW \
    "CASE WHEN char_length (c.overview) <= " SQL_ITEM_OVERVIEW_MAX " THEN c.overview " \
    "ELSE left (regexp_replace (left (c.overview, " SQL_ITEM_OVERVIEW_MAX " + 1), '\\s+\\S*$', ''), " \
    SQL_ITEM_OVERVIEW_MAX ") || '\xe2\x80\xa6' END"

//  A list item (catalog.item: the search result item shape) of c, scored
//  by column score of p (what the list ranks by; shown to 3 decimals, as
//  popularity is given: a gain's float noise, 3.1999999999999993, is
//  bytes and no information), showing the offers of
//  region o (SQL_ITEM_OFFERS). Every list builds its items here, so a
//  change to the item's fields is made once.
#define SQL_ITEM(o) \
    "jsonb_build_object ('id', c.id, 'type', c.type, 'title', c.title, " \
    "'original_title', c.original_title, 'year', c.year, 'overview', " SQL_ITEM_OVERVIEW ", " \
    "'genres', " SQL_GENRES ", 'poster', " SQL_IMAGE ("c.poster_path", "w500") ", " \
    "'release_date', to_char (c.release_date, 'YYYY-MM-DD'), 'popularity', c.popularity, " \
    "'vote_average', c.vote_average::numeric, 'vote_count', c.vote_count, " \
    "'external_ids', " SQL_EXTERNAL_IDS ", 'score', round (p.score::numeric, 3), " \
    "'availability', " SQL_ITEM_OFFERS (o) ")"

#endif
