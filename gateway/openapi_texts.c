/*  What the route table and the message descriptors cannot say about the
    HTTP API, for the OpenAPI document (openapi.c): per route, summaries,
    the shape of raw bodies and of local handlers' answers, and examples
    from the bundled catalog; examples of parameters; the API's description.  */
#include "gw_openapi_texts.h"

#include <assert.h>
#include <string.h>

#define MATRIX_ID "0b5d8f8e-6a47-4c39-9a3e-5f0f2f1a6030"   //  an entity id: ids are made at import

//  Whose offers list items show (architecture §4), said once for every list route.
#define OFFERS_REGION_RULE \
    "`offers_region` (ISO 3166-1 alpha-2, or `all` for every region), by default the `region` filter when " \
    "given, else the signed-in caller's preferred region, else the deployment's `MG_DEFAULT_REGION`; it " \
    "never changes which titles are listed (`region` does); the page names it once as `offers_region`. " \
    "`availability` groups the offers by platform and deep link: `{platform, deep_link?, offers:[{type, quality, " \
    "price?, currency?, expires_at?, stale?}]}`, one link for a platform's rent, buy and subscription offers; " \
    "a group names its `region` only with `offers_region=all` (the page then has no `offers_region`). " \
    "List items' offers leave out `updated_at`, and `stale` unless it is true; " \
    "`GET /content/{id}/availability` and details keep the full offer shape. A list item's `overview` is at " \
    "most 160 characters (a longer one is cut after a whole word and ends with an ellipsis); details have " \
    "the full text."

static const gw_openapi_doc_t s_docs [] = {
    { "GET", "/health", "ops", "Liveness: the gateway process is up", "Answered without touching the bus; never rate limited.",
      NULL, NULL,
      "{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":{\"const\":\"ok\"}},\"additionalProperties\":false}",
      NULL, "{\"status\":\"ok\"}", NULL },
    { "GET", "/ready", "ops", "Readiness: the broker answers and every routed service has a live worker",
      "Asks the broker (mmi.services, 1 s budget); never rate limited.", NULL, NULL,
      "{\"type\":\"object\",\"required\":[\"status\",\"services\"],\"properties\":{\"status\":{\"const\":\"ready\"},"
      "\"services\":{\"type\":\"object\",\"description\":\"Live workers per service\",\"additionalProperties\":{\"type\":\"integer\",\"minimum\":0}}},"
      "\"additionalProperties\":false}",
      NULL, "{\"status\":\"ready\",\"services\":{\"catalog\":1,\"search\":1}}",
      "{\"503\":{\"description\":\"Not ready: the broker is unreachable or a service has no live worker\","
      "\"headers\":{\"Retry-After\":{\"$ref\":\"#/components/headers/Retry-After\"}},"
      "\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\",\"required\":[\"status\",\"error\"],"
      "\"properties\":{\"status\":{\"const\":\"not_ready\"},\"error\":{\"$ref\":\"" GW_OPENAPI_SCHEMA_REF "error\"},"
      "\"services\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\",\"minimum\":0}},"
      "\"missing\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},\"additionalProperties\":false}}}}}" },
    { "GET", "/metrics", "ops", "Prometheus metrics of the gateway (and the fetcher's provider lines)",
      "Prometheus text format 0.0.4, every thread's counters summed; never rate limited.",
      "text/plain; version=0.0.4; charset=utf-8", NULL, "{\"type\":\"string\"}", NULL, NULL, NULL },
    { "GET", "/api/v1/genres", "catalog", "The 18 canonical genres", NULL, NULL, NULL, NULL, NULL,
      "{\"results\":[{\"id\":28,\"slug\":\"action\",\"name\":\"Action\"},{\"id\":878,\"slug\":\"science-fiction\",\"name\":\"Science Fiction\"}]}",
      NULL },
    { "GET", "/api/v1/content/{id}", "catalog", "A title with its credits, videos, genres, external ids and offers",
      "`offers` are one region's current offers: `offers_region` (ISO 3166-1 alpha-2, or `all` for every "
      "region), by default the deployment's `MG_DEFAULT_REGION`. Answers come from the Redis details cache "
      "(`X-Cache: hit`) until the title or its offers change, and never past an offer's `expires_at`.",
      NULL, NULL, NULL, NULL,
      "{\"id\":\"" MATRIX_ID "\",\"type\":\"movie\",\"title\":\"The Matrix\",\"original_title\":\"The Matrix\","
      "\"original_language\":\"en\",\"year\":1999,\"release_date\":\"1999-03-30\","
      "\"overview\":\"Set in the 22nd century, The Matrix tells the story of a computer hacker who joins a group of underground insurgents fighting the vast and powerful computers who now rule the earth.\","
      "\"tagline\":\"Welcome to the Real World.\",\"runtime\":136,\"status\":\"Released\",\"homepage\":\"http://www.warnerbros.com/matrix\","
      "\"popularity\":104.309993,\"vote_average\":7.9,\"vote_count\":8907,\"genres\":[\"action\",\"science-fiction\"],"
      "\"keywords\":[\"artificial intelligence\",\"virtual reality\",\"cyberpunk\"],\"production_companies\":[{\"name\":\"Village Roadshow Pictures\",\"tmdb_id\":79,"
      "\"logo\":\"https://image.tmdb.org/t/p/w185/tpFpsqbleCzEE2p5EgvUq6ozfCA.png\",\"origin_country\":\"US\"},"
      "{\"name\":\"Warner Bros.\",\"tmdb_id\":6194}],\"production_countries\":[\"AU\",\"US\"],"
      "\"spoken_languages\":[\"en\"],\"credits\":{\"cast\":[{\"name\":\"Keanu Reeves\",\"character\":\"Thomas \\\"Neo\\\" Anderson\",\"order\":0,\"person_tmdb_id\":6384},"
      "{\"name\":\"Laurence Fishburne\",\"character\":\"Morpheus\",\"order\":1,\"person_tmdb_id\":2975}],"
      "\"crew\":[{\"name\":\"Lana Wachowski\",\"job\":\"Director\",\"department\":\"Directing\",\"order\":0,\"person_tmdb_id\":9340}]},"
      "\"videos\":[],\"external_ids\":{\"tmdb\":603,\"imdb\":\"tt0133093\"},\"version\":1,\"updated_at\":\"2026-01-01T00:00:00Z\","
      "\"offers\":[{\"platform\":\"max\",\"region\":\"US\",\"type\":\"subscription\",\"quality\":\"hd\","
      "\"expires_at\":\"2027-01-01T00:00:00Z\",\"stale\":false,\"updated_at\":\"2026-01-01T00:00:00Z\"}]}",
      NULL },
    { "GET", "/api/v1/content/{id}/availability", "catalog", "Where a title can be watched now", NULL, NULL, NULL, NULL, NULL,
      "{\"id\":\"" MATRIX_ID "\",\"region\":\"AU\",\"results\":[{\"platform\":\"disney-plus\",\"region\":\"AU\",\"type\":\"subscription\","
      "\"quality\":\"hd\",\"deep_link\":\"https://www.disneyplus.com/movies/di603\",\"stale\":false,\"updated_at\":\"2026-01-01T00:00:00Z\"}]}",
      NULL },
    { "GET", "/api/v1/people/{id}", "catalog", "A person with one page of their filmography",
      "A person is an entity of their own (canonical UUID, TMDB person id in external_ids.tmdb); the "
      "filmography lists every credit (cast and crew), the most popular title first, paged like a list.",
      NULL, NULL, NULL, NULL,
      "{\"id\":\"0b6e2f3c-4d1a-4f5e-9a7b-8c9d0e1f2a3b\",\"name\":\"Keanu Reeves\",\"known_for_department\":\"Acting\","
      "\"profile\":\"https://image.tmdb.org/t/p/w185/4D0PpNI0kmP58hgrwGC3wCjxhnm.jpg\","
      "\"external_ids\":{\"tmdb\":6384},\"filmography\":[{\"id\":\"" MATRIX_ID "\",\"type\":\"movie\","
      "\"title\":\"The Matrix\",\"year\":1999,\"role\":\"cast\",\"character\":\"Thomas \\\"Neo\\\" Anderson\","
      "\"order\":0,\"popularity\":104.309993}],\"total\":1,\"page\":1,\"per_page\":20}",
      NULL },
    { "GET", "/api/v1/trending", "catalog", "Titles gaining the most popularity over the window (day or week)",
      "Ranks by the popularity a title gained since the last snapshot taken at or before the window's start; "
      "each item's `score` is that gain. With less history than the window the reply has `window_fallback: true` "
      "and ranks by current popularity (`score` is then the popularity). Each item's `availability` shows one "
      "region's offers: " OFFERS_REGION_RULE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/discover", "catalog", "Browse titles by filters (none required)",
      "Each item's `availability` shows one region's offers: " OFFERS_REGION_RULE
      " Pages are answered from the Redis result cache (`X-Cache: hit`) until the catalog changes, and never "
      "past the `expires_at` of an offer they show.", NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/search", "search", "Search titles: keyword and semantic rankings fused, with facets",
      "Facets are counted only when asked (`facets=genres,platforms,years,types`); `total` is exact up to 10,000, "
      "beyond which it is 10,000 with `total_exact: false`. "
      "Repeated searches are answered from the Redis result cache (`X-Cache: hit`) until the catalog changes. "
      "Each result's `availability` shows one region's offers: " OFFERS_REGION_RULE,
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/search/autocomplete", "search", "Title and person suggestions for what has been typed", NULL,
      NULL, NULL, NULL, NULL,
      "{\"results\":[{\"id\":\"" MATRIX_ID "\",\"type\":\"movie\",\"title\":\"The Matrix\",\"year\":1999}]}", NULL },
    { "GET", "/api/v1/content/{id}/similar", "search", "Titles nearest to one title (search result items)",
      "Each item's `availability` shows one region's offers: " OFFERS_REGION_RULE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "POST", "/api/v1/resolve", "catalog", "Match records to canonical titles, creating nothing",
      "Each record is checked on its own: a bad one is listed in `errors` and its result is null; "
      "a record with no match is null too. Runs tiers 1-3 (EIDR, IMDb/TMDB id, fuzzy title + year).",
      NULL,
      "{\"type\":\"object\",\"required\":[\"records\"],\"properties\":{\"records\":{\"type\":\"array\",\"maxItems\":1000,"
      "\"items\":{\"type\":\"object\",\"description\":\"A title as a source knows it\",\"properties\":{"
      "\"title\":{\"type\":\"string\"},\"year\":{\"type\":\"integer\"},\"type\":{\"enum\":[\"movie\",\"tv\"]},"
      "\"imdb\":{\"type\":\"string\"},\"tmdb\":{\"type\":\"integer\"},\"eidr\":{\"type\":\"string\"},"
      "\"release_date\":{\"type\":\"string\"},\"original_title\":{\"type\":\"string\"},"
      "\"genres\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}}}",
      NULL, "{\"records\":[{\"title\":\"The Matrix\",\"year\":1999},{\"imdb\":\"tt0133093\"}]}", NULL, NULL },
    { "POST", "/api/v1/auth/register", "accounts", "Create an account", NULL, NULL, NULL, NULL,
      "{\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}", NULL, NULL },
    { "POST", "/api/v1/auth/login", "accounts", "Sign in: an access token (JWT) and a refresh token", NULL, NULL, NULL, NULL,
      "{\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}", NULL, NULL },
    { "POST", "/api/v1/auth/refresh", "accounts", "Trade a refresh token for new tokens (single use)", NULL,
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/auth/api-keys", "accounts", "The caller's active API keys", "Needs a Bearer access token: API keys cannot manage API keys.",
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "POST", "/api/v1/auth/api-keys", "accounts", "Create an API key (the key is shown once)",
      "Needs a Bearer access token: API keys cannot manage API keys.", NULL, NULL, NULL, "{\"name\":\"living room app\"}", NULL, NULL },
    { "DELETE", "/api/v1/auth/api-keys/{id}", "accounts", "Revoke an API key",
      "Needs a Bearer access token: API keys cannot manage API keys.", NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/me/watchlist", "me", "The caller's merged state (watchlist view)", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "PUT", "/api/v1/me/watchlist/{content_id}", "me", "Add a title to the watchlist",
      "`X-Device-Id` names the device making the change; without it the change is the account's own.",
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "DELETE", "/api/v1/me/watchlist/{content_id}", "me", "Remove a title from the watchlist (every add the server has seen)",
      NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/me/progress", "me", "The caller's merged state (progress view)", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/me/progress/{content_id}", "me", "Watch progress of one title", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "PUT", "/api/v1/me/progress/{content_id}", "me", "Set the watch progress of one title (last writer wins)", NULL,
      NULL, NULL, NULL, "{\"position_s\":1830.5,\"duration_s\":8160,\"completed\":false}", NULL, NULL },
    { "GET", "/api/v1/me/preferences", "me", "The caller's merged state (preferences view)", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "PUT", "/api/v1/me/preferences", "me", "Change preferences: the fields given change", NULL, NULL, NULL, NULL,
      "{\"language\":\"en\",\"region\":\"US\",\"genres\":[\"science-fiction\",\"action\"]}", NULL, NULL },
    { "GET", "/api/v1/me/devices", "me", "The caller's registered devices", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "POST", "/api/v1/me/devices", "me", "Register a device (at most 10)", NULL, NULL, NULL, NULL,
      "{\"name\":\"Living room TV\"}", NULL, NULL },
    { "DELETE", "/api/v1/me/devices/{id}", "me", "Remove a device (its open streams end)", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/me/notifications", "me", "The caller's notifications, newest first",
      "A title on the watchlist arrived on (`available`) or leaves within the caller's `leaving_days` preference "
      "(`leaving`) one of the caller's `services` in the caller's `region`, or a webhook was disabled "
      "(`webhook.disabled`). Each is also an `event: notification` on `/sync/stream` and a call to each webhook.",
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "POST", "/api/v1/me/notifications/read", "me", "Mark notifications read (those named, or all)", NULL,
      NULL, NULL, NULL, "{\"ids\":[\"7d0b6c1e-3f43-4a8e-9a55-0d6f0b1f2a10\"]}", NULL, NULL },
    { "GET", "/api/v1/me/webhooks", "me", "The caller's webhooks", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "POST", "/api/v1/me/webhooks", "me", "Add a webhook: notifications are POSTed to it, signed",
      "Standard Webhooks: headers `webhook-id` (the delivery id, the same on every retry), `webhook-timestamp` "
      "(Unix seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed with the "
      "base64 after `whsec_` of the secret, shown only in this reply). The URL must be https and resolve only to "
      "public addresses; 409 CONFLICT when the caller has 10 webhooks already. A 2xx answer acknowledges; anything else is retried with exponential backoff for 24 h, "
      "then the delivery is a dead letter; 5 dead letters in a row disable the webhook (and notify the caller).",
      NULL, NULL, NULL, "{\"url\":\"https://example.com/hooks/media\"}", NULL,
      "{\"409\":{\"$ref\":\"#/components/responses/Error\"}}" },
    { "DELETE", "/api/v1/me/webhooks/{id}", "me", "Remove a webhook (its pending deliveries with it)", NULL,
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/me/webhooks/{id}/deliveries", "me", "A webhook's deliveries, newest first (state=dead: the dead letters)",
      NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "POST", "/api/v1/me/webhooks/{id}/deliveries/{delivery}/replay", "me", "Deliver a dead letter again",
      "The delivery is retried as new (same `webhook-id`) and the webhook is enabled again; "
      "409 CONFLICT when the delivery is not a dead letter.",
      NULL, NULL, NULL, NULL, NULL, "{\"409\":{\"$ref\":\"#/components/responses/Error\"}}" },
    { "POST", "/api/v1/me/import", "me", "Import a list file: IMDb, Letterboxd, Trakt or title,year",
      "The body is the file (`text/csv`, `application/json`, `application/x-ndjson`; at most 5 MB) or a "
      "`multipart/form-data` form with a `file` field. The format is told by the header (CSV) or the items' "
      "shape (JSON) and named in `format`; a file that cannot be read is 400 naming the line. Rows are "
      "resolved to titles (ids first, then title and year); list entries are added to the watchlist and "
      "watches set as completed progress, as the account's own changes (every device's stream hears of "
      "them); what the state holds already is left alone, so importing a file again changes nothing. "
      "Up to 1,000 rows: 200 with the report. More: 202 with `Location: /api/v1/me/imports/{id}` to poll.",
      NULL,
      "{\"text/csv\":{\"schema\":{\"type\":\"string\"}},\"application/json\":{\"schema\":{\"type\":\"string\"}},"
      "\"application/x-ndjson\":{\"schema\":{\"type\":\"string\"}},\"multipart/form-data\":{\"schema\":{"
      "\"type\":\"object\",\"required\":[\"file\"],\"properties\":{\"file\":{\"type\":\"string\",\"format\":\"binary\"}}}}}",
      NULL, NULL, NULL,
      "{\"202\":{\"description\":\"A file of more than 1,000 rows: queued; poll Location\","
      "\"headers\":{\"Location\":{\"description\":\"/api/v1/me/imports/{id}\",\"schema\":{\"type\":\"string\"}}},"
      "\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"" GW_OPENAPI_SCHEMA_REF "sync.import.job\"}}}},"
      "\"413\":{\"$ref\":\"#/components/responses/PayloadTooLarge\"},"
      "\"415\":{\"$ref\":\"#/components/responses/UnsupportedMediaType\"}}" },
    { "GET", "/api/v1/me/imports/{id}", "me", "An import's progress and report",
      "404 for an import that is not the caller's.", NULL, NULL, NULL, NULL, NULL, NULL },
    { "POST", "/api/v1/sync/ops", "sync", "Apply a batch of offline ops (CRDT merge) and get the merged state",
      "Ops are checked one by one; an op already applied (same op_id) is skipped.", NULL,
      "{\"type\":\"object\",\"required\":[\"ops\"],\"properties\":{\"device_id\":{\"type\":\"string\",\"description\":\"The caller's device sending the batch\"},"
      "\"ops\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"op_id\",\"type\"],\"properties\":{"
      "\"op_id\":{\"type\":\"string\"},\"type\":{\"enum\":[\"watchlist.add\",\"watchlist.remove\",\"progress.set\",\"preferences.set\"]},"
      "\"hlc\":{\"type\":\"string\",\"description\":\"The device's hybrid logical clock; absent: stamped by the server\"},"
      "\"device_id\":{\"type\":\"string\"},\"content_id\":{\"type\":\"string\"},"
      "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"watchlist.remove: the adds the device has seen\"},"
      "\"position_s\":{\"type\":\"number\"},\"duration_s\":{\"type\":\"number\"},\"completed\":{\"type\":\"boolean\"},"
      "\"field\":{\"type\":\"string\",\"description\":\"preferences.set: the field\"},\"value\":{\"description\":\"preferences.set: its value\"}}}}}}",
      NULL, "{\"ops\":[{\"op_id\":\"5f1c2a9e-0000-4000-8000-000000000001\",\"type\":\"watchlist.add\",\"content_id\":\"" MATRIX_ID "\"}]}",
      NULL, NULL },
    { "POST", "/api/v1/sync/handoff", "sync", "Hand playback over to another of the caller's devices", NULL,
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/sync/stream", "sync", "Server-Sent Events: changes of the caller's state, live",
      "One `event:` per change (`watchlist.add`, `watchlist.remove`, `progress.set`, `preferences.set`, "
      "`device.added`, `device.removed`, `handoff`, `notification`, `reset`), `id:` the per-user event number, `data:` a JSON object. "
      "Resume with `Last-Event-ID` (or `last_event_id`); a device is named by `X-Device-Id` or `device_id` "
      "(EventSource cannot send headers). Comment lines keep idle streams open.",
      "text/event-stream", NULL, "{\"type\":\"string\"}", NULL, NULL, NULL },
    { "POST", "/mcp", "mcp", "Model Context Protocol (Streamable HTTP): one JSON-RPC 2.0 message",
      "MCP revisions 2025-06-18 and 2025-11-25 for assistants: `initialize` opens a session (answered with "
      "`Mcp-Session-Id`, kept in Redis so any gateway serves it); every later message sends that header and may "
      "send `MCP-Protocol-Version`. Methods: `ping`, `tools/list`, `tools/call`, `resources/list`, "
      "`resources/templates/list`, `resources/read`. Each tool calls the REST route it is named after "
      "(see docs/gateway.md): search_titles, get_title, where_to_watch, trending, discover, find_person, "
      "resolve_titles, get_watchlist, add_to_watchlist, remove_from_watchlist, set_progress. Tool failures are "
      "results with `isError` and the API's error object; protocol errors are JSON-RPC errors (-32700, -32600, "
      "-32601, -32602; -32002 for an unknown resource). `tools/call` and `resources/read` answer as one "
      "`text/event-stream` event when the client accepts it. Notifications get 202. A browser `Origin` must be "
      "one `MG_CORS_ORIGINS` allows (403). Authenticated and rate limited like `/api/v1`; GET (a server stream) "
      "is not offered: 405.",
      NULL,
      "{\"type\":\"object\",\"required\":[\"jsonrpc\"],\"properties\":{\"jsonrpc\":{\"const\":\"2.0\"},"
      "\"id\":{\"type\":[\"string\",\"integer\"]},\"method\":{\"type\":\"string\"},\"params\":{\"type\":\"object\"},"
      "\"result\":{},\"error\":{\"type\":\"object\"}}}",
      "{\"type\":\"object\",\"required\":[\"jsonrpc\"],\"properties\":{\"jsonrpc\":{\"const\":\"2.0\"},"
      "\"id\":{\"type\":[\"string\",\"integer\",\"null\"]},\"result\":{\"type\":\"object\"},"
      "\"error\":{\"type\":\"object\",\"required\":[\"code\",\"message\"],\"properties\":{\"code\":{\"type\":\"integer\"},"
      "\"message\":{\"type\":\"string\"},\"data\":{}}}}}",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_titles\",\"arguments\":{\"q\":\"the matrix\"}}}",
      NULL,
      "{\"202\":{\"description\":\"A notification or a response: accepted, no body\"},"
      "\"403\":{\"$ref\":\"#/components/responses/Forbidden\"},"
      "\"404\":{\"$ref\":\"#/components/responses/NotFound\"}}" },
    { "DELETE", "/mcp", "mcp", "End an MCP session",
      "Ends the session named by `Mcp-Session-Id` (404 when there is none, it ended or it is another caller's).",
      NULL, NULL, NULL, NULL, NULL,
      "{\"403\":{\"$ref\":\"#/components/responses/Forbidden\"},"
      "\"404\":{\"$ref\":\"#/components/responses/NotFound\"}}" },
    { "GET", "/api/v1/openapi.yaml", "meta", "This document (YAML)", "Built by the gateway at start from its route table.",
      "application/yaml", NULL, "{\"type\":\"string\"}", NULL, NULL, NULL },
    { "GET", "/api/v1/openapi.json", "meta", "This document (JSON)", "Built by the gateway at start from its route table.",
      NULL, NULL, "{\"type\":\"object\",\"required\":[\"openapi\",\"info\",\"paths\"]}", NULL, NULL, NULL },
};

//  Examples of query and path parameters by name, as JSON (titles from the bundled catalog).
static const struct {
    const char *name;
    const char *example;
} s_param_examples [] = {
    { "q", "\"the matrix\"" }, { "genres", "[\"science-fiction\",\"action\"]" }, { "region", "\"US\"" },
    { "platforms", "[\"netflix\"]" }, { "year_from", "1990" }, { "year_to", "1999" }, { "min_rating", "7.5" },
    { "type", "\"movie\"" }, { "id", "\"" MATRIX_ID "\"" }, { "content_id", "\"" MATRIX_ID "\"" },
    { "window", "\"day\"" },
};

const char gw_openapi_info [] =
    "The Media Gateway API: one catalog of movies and series merged from many sources, "
    "where to watch them, search, and a user's watchlist, progress and preferences kept in sync "
    "across devices.\n\n"
    "Generated by `mg-openapi` from the gateway's route table (`gateway/routes.c`) and the message "
    "schema (`messages/schema.def`); do not edit by hand.\n\n"
    "Conventions:\n"
    "- Every error is `{\"error\":{\"code\",\"message\",\"retry_after\"?,\"param\"?}}` with an UPPER_SNAKE code. "
    "An unknown or malformed parameter is a 400 naming it; a failure that is not the caller's fault is a 503 "
    "with `Retry-After` (or a 500 for a bug); a method a path does not take is a 405 with `Allow`.\n"
    "- Fields with no value are left out (never null), except the list items of `/resolve` that have no match.\n"
    "- `maxLength` counts bytes of UTF-8. List query parameters are comma-separated (`genres=action,drama`).\n"
    "- `HEAD` is accepted wherever `GET` is.\n"
    "- Every `/api/v1` request is rate limited per caller (client IP when anonymous, else the user, by tier); "
    "answers carry `X-RateLimit-*`, `RateLimit` and `RateLimit-Policy`, and a 429 carries `Retry-After`.\n"
    "- Browsers: CORS on `/api/v1` and `/mcp` (origins from `MG_CORS_ORIGINS`, default `*`); preflights are answered by "
    "the gateway; no cookies are used, so credentials mode is never needed.\n"
    "- Public catalog reads carry a strong `ETag` and `Cache-Control`; `If-None-Match` gives 304.";

const gw_openapi_doc_t *
gw_openapi_doc (const char *method, const char *path)
{
    assert (method && path);
    for (size_t i = 0; i < sizeof s_docs / sizeof s_docs [0]; i++)
        if (strcmp (s_docs [i].method, method) == 0 && strcmp (s_docs [i].path, path) == 0)
            return &s_docs [i];
    return NULL;
}

const char *
gw_openapi_param_example (const char *name)
{
    assert (name);
    for (size_t i = 0; i < sizeof s_param_examples / sizeof s_param_examples [0]; i++)
        if (strcmp (s_param_examples [i].name, name) == 0)
            return s_param_examples [i].example;
    return NULL;
}
