/*  The OpenAPI 3.1 description of the HTTP API, generated from the route
    table (routes.c) and the message descriptors (messages/schema.def), so
    that the document cannot drift from what the gateway does: every route
    is an operation; its request message gives the path and query
    parameters (or the JSON body of GW_ROUTE_BODY routes) with their types
    and limits; its reply message gives the response schema exactly as
    gw_msg_append writes it (present fields only, never null, list items
    null on GW_ROUTE_NULLS routes); the flags give the security, the error
    statuses and the headers.

    What the tables cannot say (summaries, the shape of raw bodies and of
    local handlers' answers, examples from the bundled catalog) is in
    s_docs below, keyed by method and path. A route missing there is still
    described, with its messages' own docs.

    mg-openapi prints the document (docs/openapi.yaml); the gateway builds it
    once at start and serves it at /api/v1/openapi.yaml and .json.  */
#include "gateway.h"
#include "mg_log.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPENAPI_VERSION   "3.1.0"
#define API_VERSION       "1.0.0"   //  of the /api/v1 contract; bump on a breaking change
#define DEFAULT_SERVER    "http://localhost:8080"  //  scripts/run's gateway (MG_HTTP_PORT)
#define SCHEMA_REF        "#/components/schemas/"
#define YAML_DEPTH_MAX    64        //  deeper than any document this file makes
#define NAME_BYTES        128       //  an operationId or a route key
#define REAL_DIGITS       15        //  7.9, not jansson's default 7.9000000000000004

//  Text the tables lack, per route. JSON texts are parsed at generation: a
//  typo fails mg-openapi (and its test), never a request.
typedef struct {
    const char *method;
    const char *path;
    const char *tag;
    const char *summary;
    const char *description;        //  NULL: the request or reply message's doc
    const char *type;               //  media type of the success body (NULL: application/json)
    const char *body;               //  JSON Schema of a GW_ROUTE_RAW_BODY body; of a local handler
                                    //  without it, the body's content object (media type -> {schema})
    const char *reply;              //  JSON Schema of a local handler's success body
    const char *example;            //  JSON example of the request body
    const char *reply_example;      //  JSON example of the success body
    const char *responses;          //  JSON object of further responses (status -> Response)
} s_doc_t;

#define MATRIX_ID "0b5d8f8e-6a47-4c39-9a3e-5f0f2f1a6030"   //  an entity id: ids are made at import

static const s_doc_t s_docs [] = {
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
      "\"properties\":{\"status\":{\"const\":\"not_ready\"},\"error\":{\"$ref\":\"" SCHEMA_REF "error\"},"
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
      "\"keywords\":[\"artificial intelligence\",\"virtual reality\",\"cyberpunk\"],\"production_countries\":[\"AU\",\"US\"],"
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
      "\"external_ids\":{\"tmdb\":6384},\"filmography\":[{\"id\":\"" MATRIX_ID "\",\"type\":\"movie\","
      "\"title\":\"The Matrix\",\"year\":1999,\"role\":\"cast\",\"character\":\"Thomas \\\"Neo\\\" Anderson\","
      "\"order\":0,\"popularity\":104.309993}],\"total\":1,\"page\":1,\"per_page\":20}",
      NULL },
    { "GET", "/api/v1/trending", "catalog", "Titles gaining the most popularity over the window (day or week)",
      "Ranks by the popularity a title gained since the last snapshot taken at or before the window's start; "
      "each item's `score` is that gain. With less history than the window the reply has `window_fallback: true` "
      "and ranks by current popularity (`score` is then the popularity).", NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/discover", "catalog", "Browse titles by filters (none required)", NULL, NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/search", "search", "Search titles: keyword and semantic rankings fused, with facets",
      "Facets are counted only when asked (`facets=genres,platforms,years,types`); `total` is exact up to 10,000, "
      "beyond which it is 10,000 with `total_exact: false`. "
      "Repeated searches are answered from the Redis result cache (`X-Cache: hit`) until the catalog changes. "
      "Each result's `availability` shows one region's offers: `offers_region` (or `all`), by default "
      "`MG_DEFAULT_REGION`; it never changes which titles match (`region` does).",
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/search/autocomplete", "search", "Title and person suggestions for what has been typed", NULL,
      NULL, NULL, NULL, NULL,
      "{\"results\":[{\"id\":\"" MATRIX_ID "\",\"type\":\"movie\",\"title\":\"The Matrix\",\"year\":1999}]}", NULL },
    { "GET", "/api/v1/content/{id}/similar", "search", "Titles nearest to one title (search result items)", NULL,
      NULL, NULL, NULL, NULL, NULL, NULL },
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
      "\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"" SCHEMA_REF "sync.import.job\"}}}},"
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

static const char s_info [] =
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

//  Generation state: the document, and whether anything failed.
typedef struct {
    json_t *doc;
    json_t *schemas;                //  components.schemas
    bool failed;
} s_gen_t;

//  obj[key] = value (value's reference taken), remembering a failure.
static void
s_set (s_gen_t *gen, json_t *obj, const char *key, json_t *value)
{
    if (!obj || !value || json_object_set_new (obj, key, value))
        gen->failed = true;
}

//  Append value to array (reference taken), remembering a failure.
static void
s_append (s_gen_t *gen, json_t *array, json_t *value)
{
    if (!array || !value || json_array_append_new (array, value))
        gen->failed = true;
}

//  Parse a JSON text of s_docs; NULL (and a log line) when it is not JSON.
static json_t *
s_parse (s_gen_t *gen, const char *text, const char *what)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &error);
    if (!json) {
        mg_error ("bad JSON in the OpenAPI texts", "what=\"%s\" reason=\"%s\" column=%d",
                  what, error.text, error.column);
        gen->failed = true;
    }
    return json;
}

//  The s_docs entry of route, or NULL.
static const s_doc_t *
s_doc (const gw_route_t *route)
{
    for (size_t i = 0; i < sizeof s_docs / sizeof s_docs [0]; i++)
        if (strcmp (s_docs [i].method, route->method) == 0 && strcmp (s_docs [i].path, route->path) == 0)
            return &s_docs [i];
    return NULL;
}

//  {"$ref": "#/components/schemas/<name>"}.
static json_t *
s_ref_to (const char *name)
{
    char ref [NAME_BYTES + sizeof SCHEMA_REF];
    snprintf (ref, sizeof ref, SCHEMA_REF "%s", name);
    return json_pack ("{s:s}", "$ref", ref);
}

static json_t *s_message_schema (s_gen_t *gen, const mg_msgdesc_t *desc, bool nulls);

//  A reference to desc's component schema, adding the component (and the
//  ones it uses) the first time.
static json_t *
s_ref (s_gen_t *gen, const mg_msgdesc_t *desc)
{
    if (!json_object_get (gen->schemas, desc->name)) {
        //  A placeholder first: a message is added once even if reached again below.
        s_set (gen, gen->schemas, desc->name, json_object ());
        s_set (gen, gen->schemas, desc->name, s_message_schema (gen, desc, false));
    }
    return s_ref_to (desc->name);
}

//  The JSON Schema of one field's value as the codec reads and writes it.
//  nulls: list items with no fields are null (GW_ROUTE_NULLS replies).
static json_t *
s_field_schema (s_gen_t *gen, const mg_field_t *f, bool nulls)
{
    json_t *schema = NULL;
    switch (f->type) {
        case MG_T_STR:
            schema = json_pack ("{s:s,s:I}", "type", "string", "maxLength", (json_int_t) f->max);
            break;
        case MG_T_INT:
            schema = json_pack ("{s:s}", "type", "integer");
            break;
        case MG_T_UINT:
            schema = json_pack ("{s:s,s:i}", "type", "integer", "minimum", 0);
            break;
        case MG_T_DOUBLE:
            schema = json_pack ("{s:s}", "type", "number");
            break;
        case MG_T_BOOL:
            schema = json_pack ("{s:s}", "type", "boolean");
            break;
        case MG_T_STRLIST:
            schema = json_pack ("{s:s,s:{s:s},s:I}", "type", "array", "items", "type", "string",
                                "maxItems", (json_int_t) f->max);
            break;
        case MG_T_MSG:
            schema = s_ref (gen, f->sub);
            break;
        case MG_T_MSGLIST: {
            json_t *item = s_ref (gen, f->sub);
            if (nulls && item)
                item = json_pack ("{s:[o,{s:s}]}", "anyOf", item, "type", "null");
            schema = json_pack ("{s:s,s:o*,s:I}", "type", "array", "items", item,
                                "maxItems", (json_int_t) f->max);
            break;
        }
    }
    if (schema && f->doc && *f->doc)
        s_set (gen, schema, "description", json_string (f->doc));
    if (!schema)
        gen->failed = true;
    return schema;
}

//  The schema of desc's JSON object; skip (may be NULL) names fields left out.
static json_t *
s_object_schema (s_gen_t *gen, const mg_msgdesc_t *desc, bool nulls, bool (*skip) (const mg_field_t *, const void *),
                 const void *arg)
{
    json_t *schema = json_pack ("{s:s}", "type", "object");
    json_t *properties = json_object ();
    json_t *required = json_array ();
    if (desc->doc && *desc->doc)
        s_set (gen, schema, "description", json_string (desc->doc));
    for (size_t i = 0; i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (skip && skip (f, arg))
            continue;
        s_set (gen, properties, f->name, s_field_schema (gen, f, nulls));
        if (f->required)
            s_append (gen, required, json_string (f->name));
    }
    if (json_array_size (required))
        s_set (gen, schema, "required", required);
    else
        json_decref (required);
    s_set (gen, schema, "properties", properties);
    //  mg_msg_from_json refuses unknown keys, and gw_msg_append writes only the fields.
    s_set (gen, schema, "additionalProperties", json_false ());
    return schema;
}

//  The schema of a message as gw_msg_append writes it.
static json_t *
s_message_schema (s_gen_t *gen, const mg_msgdesc_t *desc, bool nulls)
{
    return s_object_schema (gen, desc, nulls, NULL, NULL);
}

//  Fill schema's enum, default, minimum and maximum from a parameter's doc
//  text: "all|movie|tv (default all)", "Page size 1-100 (default 20)".
static void
s_doc_limits (s_gen_t *gen, const mg_field_t *f, json_t *schema)
{
    const char *doc = f->doc ? f->doc : "";
    bool numeric = f->type == MG_T_UINT || f->type == MG_T_INT || f->type == MG_T_DOUBLE;
    size_t word = strspn (doc, "abcdefghijklmnopqrstuvwxyz_|");
    if (f->type == MG_T_STR && word > 0 && memchr (doc, '|', word)
    &&  (doc [word] == '\0' || doc [word] == ' ' || doc [word] == ';')) {
        json_t *values = json_array ();
        for (const char *p = doc; p < doc + word; ) {
            size_t n = strcspn (p, "|");
            if (n > (size_t) (doc + word - p))
                n = (size_t) (doc + word - p);
            s_append (gen, values, json_stringn (p, n));
            p += n + 1;
        }
        s_set (gen, schema, "enum", values);
    }
    const char *at = strstr (doc, "(default ");
    if (at) {
        at += strlen ("(default ");
        size_t n = strcspn (at, ")");
        char text [64];
        if (n < sizeof text) {
            memcpy (text, at, n);
            text [n] = '\0';
            char *end = NULL;
            if (numeric) {
                double value = strtod (text, &end);
                if (end != text && *end == '\0')
                    s_set (gen, schema, "default", f->type == MG_T_DOUBLE ? json_real (value)
                                                                          : json_integer ((json_int_t) value));
            }
            else
            if (f->type == MG_T_STR)
                s_set (gen, schema, "default", json_string (text));
        }
    }
    //  A range "N-M" standing as a word (not "ISO 3166-1": text fields are not looked at).
    for (const char *p = doc; numeric && *p; p++) {
        unsigned low, high;
        int used = 0;
        if ((p == doc || p [-1] == ' ') && isdigit ((unsigned char) *p)
        &&  sscanf (p, "%u-%u%n", &low, &high, &used) == 2
        &&  (p [used] == '\0' || p [used] == ' ' || p [used] == ',' || p [used] == ')') && low < high) {
            s_set (gen, schema, "minimum", json_integer (low));
            s_set (gen, schema, "maximum", json_integer (high));
            break;
        }
    }
}

//  Is field f one of route's {path} parameters?
static bool
s_in_path (const gw_route_t *route, const char *name)
{
    size_t len = strlen (name);
    for (const char *p = strchr (route->path, '{'); p; p = strchr (p + 1, '{'))
        if (strncmp (p + 1, name, len) == 0 && p [len + 1] == '}')
            return true;
    return false;
}

//  Fields a client never sends in a body: the caller, the path's, and the
//  device of a user route (X-Device-Id only).
static bool
s_not_in_body (const mg_field_t *f, const void *arg)
{
    const gw_route_t *route = arg;
    bool user = (route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) != 0;
    return gw_routes_gateway_field (f->name) || s_in_path (route, f->name)
        || (user && strcmp (f->name, GW_DEVICE_FIELD) == 0);
}

//  Example of parameter name, or NULL.
static json_t *
s_param_example (s_gen_t *gen, const char *name)
{
    for (size_t i = 0; i < sizeof s_param_examples / sizeof s_param_examples [0]; i++)
        if (strcmp (s_param_examples [i].name, name) == 0)
            return s_parse (gen, s_param_examples [i].example, name);
    return NULL;
}

//  One Parameter object: where is path, query or header.
static json_t *
s_parameter (s_gen_t *gen, const mg_field_t *f, const char *name, const char *where, bool required)
{
    json_t *schema = s_field_schema (gen, f, false);
    json_t *description = schema ? json_object_get (schema, "description") : NULL;
    json_t *param = json_pack ("{s:s,s:s,s:b}", "name", name, "in", where, "required", required);
    if (description)
        s_set (gen, param, "description", json_incref (description));
    if (schema)
        json_object_del (schema, "description");
    if (schema && f->type != MG_T_MSG && f->type != MG_T_MSGLIST)
        s_doc_limits (gen, f, schema);
    s_set (gen, param, "schema", schema);
    if (f->type == MG_T_STRLIST) {
        s_set (gen, param, "style", json_string ("form"));
        s_set (gen, param, "explode", json_false ());
    }
    json_t *example = strcmp (where, "header") ? s_param_example (gen, f->name) : NULL;
    if (example)
        s_set (gen, param, "example", example);
    return param;
}

//  The parameters of route: path first, then query (not on body routes:
//  their fields go in the body), then the headers the gateway reads.
static json_t *
s_parameters (s_gen_t *gen, const gw_route_t *route)
{
    json_t *params = json_array ();
    const mg_msgdesc_t *desc = route->request;
    bool user = (route->flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) != 0;
    bool body = (route->flags & (GW_ROUTE_BODY | GW_ROUTE_RAW_BODY)) != 0;
    for (size_t i = 0; desc && i < desc->nfields; i++)
        if (s_in_path (route, desc->fields [i].name))
            s_append (gen, params, s_parameter (gen, &desc->fields [i], desc->fields [i].name, "path", true));
    for (size_t i = 0; desc && !body && i < desc->nfields; i++) {
        const mg_field_t *f = &desc->fields [i];
        if (s_in_path (route, f->name) || gw_routes_gateway_field (f->name)
        ||  (user && strcmp (f->name, GW_DEVICE_FIELD) == 0 && !(route->flags & GW_ROUTE_QUERY_DEVICE))
        ||  f->type == MG_T_MSG || f->type == MG_T_MSGLIST)
            continue;
        s_append (gen, params, s_parameter (gen, f, f->name, "query", f->required));
    }
    const mg_field_t *device = desc && user ? mg_msg_field (desc, GW_DEVICE_FIELD) : NULL;
    if (device) {
        json_t *param = s_parameter (gen, device, "X-Device-Id", "header", false);
        if (route->flags & GW_ROUTE_QUERY_DEVICE)
            s_set (gen, param, "description", json_string ("The caller's device (wins over the device_id parameter)"));
        s_append (gen, params, param);
    }
    if (desc && mg_msg_field (desc, "last_event_id"))
        s_append (gen, params, json_pack ("{s:s,s:s,s:b,s:s,s:{s:s,s:s}}", "name", "Last-Event-ID", "in", "header",
                                          "required", 0, "description",
                                          "Resume after this event id (sent by EventSource on a reconnect; wins over last_event_id)",
                                          "schema", "type", "string", "pattern", "^[ \\t]*[0-9]+[ \\t]*$"));
    if (route->flags & GW_ROUTE_PUBLIC)
        s_append (gen, params, json_pack ("{s:s,s:s,s:b,s:s,s:{s:s}}", "name", "If-None-Match", "in", "header",
                                          "required", 0, "description",
                                          "ETags of answers the client holds: 304 when the answer is unchanged",
                                          "schema", "type", "string"));
    return params;
}

//  {"$ref": "#/components/<section>/<name>"}.
static json_t *
s_component (const char *section, const char *name)
{
    char ref [NAME_BYTES];
    snprintf (ref, sizeof ref, "#/components/%s/%s", section, name);
    return json_pack ("{s:s}", "$ref", ref);
}

//  A media type object {schema, example?}.
static json_t *
s_media (s_gen_t *gen, json_t *schema, const char *example, const char *what)
{
    json_t *media = json_object ();
    s_set (gen, media, "schema", schema);
    if (example)
        s_set (gen, media, "example", s_parse (gen, example, what));
    return media;
}

//  The request body of route, or NULL for none.
static json_t *
s_request_body (s_gen_t *gen, const gw_route_t *route, const s_doc_t *doc)
{
    json_t *schema = NULL;
    if (route->flags & GW_ROUTE_RAW_BODY)
        schema = doc && doc->body ? s_parse (gen, doc->body, route->path) : json_object ();
    else
    if ((route->flags & GW_ROUTE_BODY) && route->request)
        schema = s_object_schema (gen, route->request, false, s_not_in_body, route);
    if (!schema && doc && doc->body && route->handler && !(route->flags & GW_ROUTE_RAW_BODY)) {
        //  Not JSON (a file, a form): the content object is given whole.
        json_t *content = s_parse (gen, doc->body, route->path);
        return content ? json_pack ("{s:b,s:o}", "required", 1, "content", content) : NULL;
    }
    if (!schema)
        return NULL;
    //  A body route with nothing required may be sent without a body.
    json_t *required = json_object_get (schema, "required");
    json_t *body = json_pack ("{s:b}", "required", json_array_size (required) > 0);
    json_t *content = json_object ();
    s_set (gen, content, "application/json", s_media (gen, schema, doc ? doc->example : NULL, route->path));
    s_set (gen, body, "content", content);
    return body;
}

//  operationId from method and path: "get_content_id_availability".
static void
s_operation_id (const gw_route_t *route, char *id, size_t size)
{
    const char *path = route->path;
    if (strncmp (path, "/api/v1", 7) == 0)
        path += 7;
    size_t used = 0;
    for (const char *m = route->method; *m && used + 1 < size; m++)
        id [used++] = (char) tolower ((unsigned char) *m);
    bool gap = true;
    for (const char *p = path; *p && used + 1 < size; p++) {
        if (isalnum ((unsigned char) *p)) {
            if (gap)
                id [used++] = '_';
            if (used + 1 < size)
                id [used++] = *p;
            gap = false;
        }
        else
            gap = true;
    }
    id [used] = '\0';
}

//  The success response of route.
static json_t *
s_success (s_gen_t *gen, const gw_route_t *route, const s_doc_t *doc)
{
    json_t *response = json_pack ("{s:s}", "description", route->reply && route->reply->doc ? route->reply->doc
                                                        : doc && doc->summary ? doc->summary : "Done");
    json_t *headers = json_object ();
    json_t *schema = NULL;
    if (route->reply)
        schema = (route->flags & GW_ROUTE_NULLS) ? s_message_schema (gen, route->reply, true)
                                                 : s_ref (gen, route->reply);
    else
    if (doc && doc->reply)
        schema = s_parse (gen, doc->reply, route->path);
    if (schema) {
        json_t *content = json_object ();
        s_set (gen, content, doc && doc->type ? doc->type : "application/json",
               s_media (gen, schema, doc ? doc->reply_example : NULL, route->path));
        s_set (gen, response, "content", content);
    }
    if (!(route->flags & GW_ROUTE_OPS))
        for (const char *const *h = (const char *const []) { "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                                             "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy", NULL };
             *h; h++)
            s_set (gen, headers, *h, s_component ("headers", *h));
    if (route->flags & GW_ROUTE_PUBLIC) {
        s_set (gen, headers, "ETag", s_component ("headers", "ETag"));
        s_set (gen, headers, "Cache-Control", s_component ("headers", "Cache-Control"));
    }
    if (route->flags & GW_ROUTE_CACHE)
        s_set (gen, headers, "X-Cache", s_component ("headers", "X-Cache"));
    if (json_object_size (headers))
        s_set (gen, response, "headers", headers);
    else
        json_decref (headers);
    return response;
}

//  Every response of route: success, the errors its flags allow, default.
static json_t *
s_responses (s_gen_t *gen, const gw_route_t *route, const s_doc_t *doc)
{
    json_t *responses = json_object ();
    char status [8];
    snprintf (status, sizeof status, "%d", route->status);
    s_set (gen, responses, status, s_success (gen, route, doc));
    unsigned flags = route->flags;
    bool api = !(flags & GW_ROUTE_OPS);
    bool user = (flags & (GW_ROUTE_USER | GW_ROUTE_SESSION)) != 0;
    if (flags & GW_ROUTE_PUBLIC)
        s_set (gen, responses, "304", s_component ("responses", "NotModified"));
    if (api) {
        s_set (gen, responses, "400", s_component ("responses", "BadRequest"));
        s_set (gen, responses, "401", s_component ("responses", "Unauthorized"));
    }
    if (flags & GW_ROUTE_SESSION)
        s_set (gen, responses, "403", s_component ("responses", "Forbidden"));
    //  A user route's X-Device-Id must name a registered device.
    if (strchr (route->path, '{') || (user && mg_msg_field (route->request, GW_DEVICE_FIELD)))
        s_set (gen, responses, "404", s_component ("responses", "NotFound"));
    if (flags & (GW_ROUTE_BODY | GW_ROUTE_RAW_BODY)) {
        s_set (gen, responses, "413", s_component ("responses", "PayloadTooLarge"));
        s_set (gen, responses, "415", s_component ("responses", "UnsupportedMediaType"));
    }
    if (api) {
        s_set (gen, responses, "429", s_component ("responses", "TooManyRequests"));
        s_set (gen, responses, "503", s_component ("responses", "ServiceUnavailable"));
    }
    if (route->bus || ((flags & GW_ROUTE_USER) && route->handler))
        s_set (gen, responses, "504", s_component ("responses", "GatewayTimeout"));
    if (doc && doc->responses) {
        json_t *more = s_parse (gen, doc->responses, route->path);
        if (more && json_object_update (responses, more))
            gen->failed = true;
        json_decref (more);
    }
    s_set (gen, responses, "default", s_component ("responses", "Error"));
    return responses;
}

//  Who may call route: anyone (credentials raise the tier), signed-in
//  callers (Bearer or API key), Bearer only, or nobody's business (ops).
static json_t *
s_security (const gw_route_t *route)
{
    if (route->flags & GW_ROUTE_OPS)
        return json_array ();
    if (route->flags & GW_ROUTE_SESSION)
        return json_pack ("[{s:[]}]", "bearerAuth");
    if (route->flags & GW_ROUTE_USER)
        return json_pack ("[{s:[]},{s:[]}]", "bearerAuth", "apiKey");
    return json_pack ("[{},{s:[]},{s:[]}]", "bearerAuth", "apiKey");
}

//  The Operation object of route.
static json_t *
s_operation (s_gen_t *gen, const gw_route_t *route)
{
    const s_doc_t *doc = s_doc (route);
    json_t *op = json_object ();
    const char *tag = doc ? doc->tag : route->bus ? route->bus : "ops";
    s_set (gen, op, "tags", json_pack ("[s]", tag));
    const char *summary = doc ? doc->summary : route->request && route->request->doc ? route->request->doc : route->path;
    s_set (gen, op, "summary", json_string (summary));
    char description [1024], answer [384] = "";
    const char *text = doc && doc->description ? doc->description : summary;
    if (route->reply)
        snprintf (answer, sizeof answer, " The answer: %s (`%s`).", route->reply->doc, route->reply->name);
    if (route->bus)
        snprintf (description, sizeof description, "%s\n\nAnswered by `%s` on the bus.%s", text, route->bus, answer);
    else
        snprintf (description, sizeof description, "%s\n\nAnswered by the gateway itself.", text);
    s_set (gen, op, "description", json_string (description));
    char id [NAME_BYTES];
    s_operation_id (route, id, sizeof id);
    s_set (gen, op, "operationId", json_string (id));
    json_t *params = s_parameters (gen, route);
    if (json_array_size (params))
        s_set (gen, op, "parameters", params);
    else
        json_decref (params);
    json_t *body = s_request_body (gen, route, doc);
    if (body)
        s_set (gen, op, "requestBody", body);
    s_set (gen, op, "responses", s_responses (gen, route, doc));
    s_set (gen, op, "security", s_security (route));
    if (route->bus)
        s_set (gen, op, "x-bus-method", json_string (route->bus));
    return op;
}

//  An error Response object that refers to the shared Error schema.
static json_t *
s_error_response (s_gen_t *gen, const char *description, bool retry)
{
    json_t *response = json_pack ("{s:s,s:{s:{s:{s:s}}}}", "description", description, "content",
                                  "application/json", "schema", "$ref", SCHEMA_REF "Error");
    json_t *headers = json_object ();
    for (const char *const *h = (const char *const []) { "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                                         "X-RateLimit-Reset", "RateLimit", "RateLimit-Policy", NULL };
         *h; h++)
        s_set (gen, headers, *h, s_component ("headers", *h));
    if (retry)
        s_set (gen, headers, "Retry-After", s_component ("headers", "Retry-After"));
    s_set (gen, response, "headers", headers);
    return response;
}

//  components: the error shape, shared responses, headers, security schemes.
static void
s_components (s_gen_t *gen, json_t *components)
{
    s_set (gen, gen->schemas, "Error", json_pack ("{s:s,s:s,s:[s],s:{s:o},s:b}", "description",
           "The one error shape of the API", "type", "object", "required", "error", "properties",
           "error", s_ref (gen, &mg_error_desc), "additionalProperties", 0));
    json_t *responses = json_object ();
    static const struct {
        const char *name, *description;
        bool retry;
    } errors [] = {
        { "BadRequest", "A parameter or the body is malformed or unknown (INVALID_PARAMETER, INVALID_JSON)", false },
        { "Unauthorized", "Credentials missing where needed, or invalid (UNAUTHORIZED); `WWW-Authenticate` says how", false },
        { "Forbidden", "The credentials may not do this (FORBIDDEN): API keys cannot manage API keys", false },
        { "NotFound", "No such resource (NOT_FOUND)", false },
        { "PayloadTooLarge", "The body is larger than MG_HTTP_MAX_BODY (PAYLOAD_TOO_LARGE)", false },
        { "UnsupportedMediaType", "The body is not application/json (UNSUPPORTED_MEDIA_TYPE)", false },
        { "TooManyRequests", "Rate limited (RATE_LIMITED), or too many open streams (TOO_MANY_STREAMS): retry after `Retry-After` seconds", true },
        { "ServiceUnavailable", "A service, the rate limiter or storage is unavailable (SERVICE_UNAVAILABLE, SERVICE_BUSY, WORKER_LOST): retry after `Retry-After` seconds", true },
        { "GatewayTimeout", "No answer within the request deadline (DEADLINE_EXCEEDED)", false },
        { "Error", "Any other error: the same shape (409 CONFLICT, 414, 431, 500 INTERNAL, 502 BAD_REPLY, ...)", false },
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors [0]; i++)
        s_set (gen, responses, errors [i].name, s_error_response (gen, errors [i].description, errors [i].retry));
    s_set (gen, responses, "NotModified", json_pack ("{s:s,s:{s:o}}", "description",
           "The answer is unchanged since the ETag given in If-None-Match (no body)",
           "headers", "ETag", s_component ("headers", "ETag")));
    s_set (gen, components, "responses", responses);
    s_set (gen, components, "headers", json_pack (
        "{s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},"
        "s:{s:s,s:{s:s,s:i}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},s:{s:s,s:{s:s,s:[ss]}}}",
        "X-RateLimit-Limit", "description", "Requests allowed in the window nearest to running out (per second or per minute)",
        "schema", "type", "integer",
        "X-RateLimit-Remaining", "description", "Requests left in that window", "schema", "type", "integer",
        "X-RateLimit-Reset", "description", "Unix time (s) when that window is full again", "schema", "type", "integer",
        "RateLimit", "description", "IETF RateLimit header: \"<tier>-<s|m>\";r=<remaining>;t=<seconds to reset>",
        "schema", "type", "string",
        "RateLimit-Policy", "description", "IETF RateLimit-Policy: both windows of the caller's tier, \"<tier>-s\";q=<n>;w=1, \"<tier>-m\";q=<n>;w=60",
        "schema", "type", "string",
        "Retry-After", "description", "Seconds to wait before retrying", "schema", "type", "integer", "minimum", 0,
        "ETag", "description", "Strong validator of the answer's body", "schema", "type", "string",
        "Cache-Control", "description", "public, max-age=60 (anonymous) or private, max-age=60", "schema", "type", "string",
        "X-Cache", "description", "Whether the Redis cache (search results, details) answered", "schema", "type", "string", "enum", "hit", "miss"));
    s_set (gen, components, "securitySchemes", json_pack (
        "{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s}}",
        "bearerAuth", "type", "http", "scheme", "bearer", "bearerFormat", "JWT",
        "description", "The access_token of POST /auth/login or /auth/refresh: Authorization: Bearer <token>",
        "apiKey", "type", "apiKey", "in", "header", "name", "X-API-Key",
        "description", "A key made with POST /auth/api-keys (mg_live_...); its tier sets the rate limits"));
}

json_t *
gw_openapi_document (void)
{
    s_gen_t gen = { .doc = json_object (), .schemas = json_object () };
    s_set (&gen, gen.doc, "openapi", json_string (OPENAPI_VERSION));
    s_set (&gen, gen.doc, "info", json_pack ("{s:s,s:s,s:s,s:{s:s,s:s}}", "title", "Media Gateway API",
           "version", API_VERSION, "description", s_info, "license", "name", "MIT", "identifier", "MIT"));
    s_set (&gen, gen.doc, "servers", json_pack ("[{s:s,s:s}]", "url", DEFAULT_SERVER, "description",
           "A local gateway (scripts/run; MG_HTTP_PORT)"));
    s_set (&gen, gen.doc, "tags", json_pack ("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]",
           "name", "catalog", "description", "Titles, genres, where to watch, trending and discovery (public)",
           "name", "search", "description", "Search, autocomplete and similar titles (public)",
           "name", "accounts", "description", "Accounts, tokens and API keys",
           "name", "me", "description", "The signed-in caller's watchlist, progress, preferences and devices",
           "name", "sync", "description", "Offline ops, handoff and the live event stream",
           "name", "meta", "description", "This description",
           "name", "mcp", "description", "The Model Context Protocol endpoint for assistants (at the root, rate limited like /api/v1)",
           "name", "ops", "description", "Liveness, readiness and metrics (at the root, never rate limited)"));
    json_t *paths = json_object ();
    for (size_t i = 0; i < gw_routes_count (); i++) {
        const gw_route_t *route = gw_routes_at (i);
        json_t *item = json_object_get (paths, route->path);
        if (!item) {
            item = json_object ();
            s_set (&gen, paths, route->path, item);
        }
        char method [8];
        size_t n = 0;
        for (; route->method [n] && n + 1 < sizeof method; n++)
            method [n] = (char) tolower ((unsigned char) route->method [n]);
        method [n] = '\0';
        s_set (&gen, item, method, s_operation (&gen, route));
    }
    s_set (&gen, gen.doc, "paths", paths);
    json_t *components = json_object ();
    s_components (&gen, components);
    //  Schemas last: the operations above added the messages they use.
    s_set (&gen, components, "schemas", json_incref (gen.schemas));
    s_set (&gen, gen.doc, "components", components);
    json_decref (gen.schemas);
    if (gen.failed) {
        mg_error ("could not build the OpenAPI document", "reason=\"bad text or out of memory\"");
        json_decref (gen.doc);
        return NULL;
    }
    return gen.doc;
}

//  --------------------------------------------------------------------------
//  YAML: block style, strings that could be read as anything else quoted
//  JSON-style (a JSON string is a valid YAML double-quoted scalar).

//  Can s be written unquoted and still read back as this string?
static bool
s_yaml_plain (const char *s)
{
    static const char *const reserved [] = { "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~" };
    size_t len = strlen (s);
    if (!len || !(isalpha ((unsigned char) *s) || *s == '/' || *s == '_') || s [len - 1] == ' ')
        return false;
    //  No ':' or '#' (": " and " #" end a plain scalar) and no quotes or escapes.
    for (const char *p = s; *p; p++)
        if (!isalnum ((unsigned char) *p) && !strchr ("_-./{}$ (),;", *p))
            return false;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved [0]; i++)
        if (strcasecmp (s, reserved [i]) == 0)
            return false;
    return true;
}

//  Append a string scalar or key.
static int
s_yaml_string (struct evbuffer *out, const char *s)
{
    if (s_yaml_plain (s))
        return evbuffer_add (out, s, strlen (s));
    json_t *json = json_string (s);
    char *text = json ? json_dumps (json, JSON_ENCODE_ANY) : NULL;
    json_decref (json);
    int rc = text ? evbuffer_add (out, text, strlen (text)) : -1;
    free (text);
    return rc;
}

//  Is value written on the line of its key (scalars, empty containers)?
static bool
s_yaml_inline (const json_t *value)
{
    return !(json_is_object (value) && json_object_size (value))
        && !(json_is_array (value) && json_array_size (value));
}

//  Append an inline value.
static int
s_yaml_scalar (struct evbuffer *out, const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_STRING:
            return s_yaml_string (out, json_string_value (value));
        case JSON_OBJECT:
            return evbuffer_add (out, "{}", 2);
        case JSON_ARRAY:
            return evbuffer_add (out, "[]", 2);
        default: {
            char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_REAL_PRECISION (REAL_DIGITS));
            int rc = text ? evbuffer_add (out, text, strlen (text)) : -1;
            free (text);
            return rc;
        }
    }
}

static int s_yaml_block (struct evbuffer *out, const json_t *value, int indent, bool continued, int depth);

//  Append a non-empty object or array at indent; continued: the first line
//  goes on the current line (after "- ").
static int
s_yaml_block (struct evbuffer *out, const json_t *value, int indent, bool continued, int depth)
{
    if (depth > YAML_DEPTH_MAX)
        return -1;
    int rc = 0;
    bool first = true;
    if (json_is_object (value)) {
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *) value, key, item) {
            if (!(first && continued))
                rc |= evbuffer_add_printf (out, "%*s", indent, "") < 0;
            first = false;
            rc |= s_yaml_string (out, key);
            if (s_yaml_inline (item)) {
                rc |= evbuffer_add (out, ": ", 2);
                rc |= s_yaml_scalar (out, item);
                rc |= evbuffer_add (out, "\n", 1);
            }
            else {
                rc |= evbuffer_add (out, ":\n", 2);
                rc |= s_yaml_block (out, item, indent + 2, false, depth + 1);
            }
        }
    }
    else {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item) {
            if (!(first && continued))
                rc |= evbuffer_add_printf (out, "%*s", indent, "") < 0;
            first = false;
            rc |= evbuffer_add (out, "- ", 2);
            if (s_yaml_inline (item)) {
                rc |= s_yaml_scalar (out, item);
                rc |= evbuffer_add (out, "\n", 1);
            }
            else
                rc |= s_yaml_block (out, item, indent + 2, json_is_object (item), depth + 1);
        }
    }
    return rc ? -1 : 0;
}

int
gw_openapi_yaml (const json_t *doc, struct evbuffer *out)
{
    assert (doc);
    assert (out);
    if (evbuffer_add_printf (out, "# Generated by mg-openapi from gateway/routes.c and messages/schema.def; do not edit.\n") < 0)
        return -1;
    return s_yaml_inline (doc) ? -1 : s_yaml_block (out, doc, 0, false, 0);
}

//  --------------------------------------------------------------------------
//  Serving: both texts built once at start, shared read-only by every thread.

static char *s_yaml_text;
static size_t s_yaml_len;
static char *s_json_text;
static size_t s_json_len;

int
gw_openapi_init (void)
{
    gw_openapi_term ();
    json_t *doc = gw_openapi_document ();
    struct evbuffer *yaml = evbuffer_new ();
    int rc = doc && yaml && gw_openapi_yaml (doc, yaml) == 0 ? 0 : -1;
    if (rc == 0) {
        s_yaml_len = evbuffer_get_length (yaml);
        s_yaml_text = malloc (s_yaml_len);
        s_json_text = json_dumps (doc, JSON_INDENT (2) | JSON_REAL_PRECISION (REAL_DIGITS));
        if (!s_yaml_text || !s_json_text || evbuffer_remove (yaml, s_yaml_text, s_yaml_len) != (int) s_yaml_len)
            rc = -1;
        s_json_len = s_json_text ? strlen (s_json_text) : 0;
    }
    if (yaml)
        evbuffer_free (yaml);
    json_decref (doc);
    if (rc)
        gw_openapi_term ();
    return rc;
}

void
gw_openapi_term (void)
{
    free (s_yaml_text);
    free (s_json_text);
    s_yaml_text = s_json_text = NULL;
    s_yaml_len = s_json_len = 0;
}

//  Answer with text, or a 500 when the document was not built.
static void
s_serve (gw_request_t *request, const char *text, size_t len, const char *type)
{
    if (!text) {
        gw_reply_error (request, 500, "INTERNAL", 0, "the API description was not built");
        return;
    }
    evbuffer_add (evhttp_request_get_output_buffer (request->http), text, len);
    gw_reply_buffer (request, 200, type);
}

void
gw_openapi_serve_yaml (gw_request_t *request)
{
    s_serve (request, s_yaml_text, s_yaml_len, "application/yaml");
}

void
gw_openapi_serve_json (gw_request_t *request)
{
    s_serve (request, s_json_text, s_json_len, GW_JSON_TYPE);
}
