/*  The users an availability change concerns, read from the state the sync
    actor keeps (sync_state, key 'state'): a title is on the watchlist while
    its entry has a live add tag; preferences are last-writer-wins registers
    {"<field>": {"value": ..., "hlc": ...}}: region (ISO 3166-1 alpha-2),
    services (platform slugs) and leaving_days. This is the one place that
    knows that layout.  */
#include "alerts.h"

const char *
alerts_prefs_sql (void)
{
    return
        "SELECT s.user_id, "
        "  upper (coalesce (s.state->'preferences'->'region'->>'value', $2::text)) AS region, "
        "  CASE WHEN jsonb_typeof (s.state->'preferences'->'services'->'value') = 'array' "
        "       THEN s.state->'preferences'->'services'->'value' ELSE '[]'::jsonb END AS services, "
        "  CASE WHEN jsonb_typeof (s.state->'preferences'->'leaving_days'->'value') = 'number' "
        "       THEN least (greatest ((s.state->'preferences'->'leaving_days'->>'value')::numeric, 0), 90)::int "
        "       ELSE $3::int END AS leaving_days "
        "FROM sync_state s "
        "WHERE s.key = 'state' AND (s.state->'watchlist'->($1::text)->'tags') <> '{}'::jsonb";
}
