/*  docs/openapi.yaml against the real gateway: a scratch catalog of six
    titles from the bundled catalog, every routed actor and the gateway;
    every route of the table is called with valid input (and a few with
    bad input: 304, 400, 401, 403, 404, 415), each answer is written to a
    file, and tests/openapi/validate-responses.mjs checks each status, media
    type and body against the document the gateway serves (ajv, JSON Schema
    2020-12), and that every operation answered with success once.  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_config.h"
#include "mg_pg.h"
#include "mg_test.h"
#include "mg_http.h"
#include "mg_sse.h"

#define START_WAIT_MS  30000        //  migrations, training and registration at start
#define HTTP_WAIT_MS   8000         //  argon2id under ASan on a loaded machine
#define NODE_DIR       MG_BIN_DIR "/../openapi-node"   //  tests/openapi/run.sh setup installs there
#define GENERATED_JSON MG_BIN_DIR "/../docs/openapi.json"

#define ID(x) "00000000-0000-4000-8000-0000000006" x
#define MATRIX    ID ("03")
#define RELOADED  ID ("04")
#define ROOMS     ID ("05")
#define REVOLUTIONS ID ("06")
#define STAR_WARS ID ("07")
#define NEMO      ID ("08")
#define UNKNOWN   ID ("99")
#define KEANU     ID ("50")          //  the person Keanu Reeves (people row made from the credits)

static const char *s_routed [] = {
    "mg-catalog", "mg-resolver", "mg-search", "mg-accounts", "mg-ratelimit", "mg-sync", "mg-alerts", "mg-gateway"
};
#define ROUTED (sizeof s_routed / sizeof s_routed [0])

typedef struct {
    char url [512];
    char model [256];
    char records [256];             //  one answer per line, for the validator
    char served [256];              //  the document the gateway served
    FILE *out;
    mg_test_env_t env;
    PGconn *admin;
    int http_port;
    pid_t broker;
    pid_t actors [ROUTED];
} fixture_t;

//  Six titles as data/catalog.jsonl.gz has them (TMDB 603, 604, 5, 605, 11, 12; overviews cut).
static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, original_title, original_language, overview, tagline, release_date, year, "
    "runtime_min, status, homepage, popularity, vote_average, vote_count, keywords, production_countries, spoken_languages, checksum) VALUES "
    "('" MATRIX "', 'movie', 'The Matrix', 'The Matrix', 'en', 'Set in the 22nd century, The Matrix tells the story of a computer hacker "
    "who joins a group of underground insurgents fighting the vast and powerful computers who now rule the earth.', "
    "'Welcome to the Real World.', '1999-03-30', 1999, 136, 'Released', 'http://www.warnerbros.com/matrix', 104.309993, 7.9, 8907, "
    "'{artificial intelligence,virtual reality,cyberpunk}', '{AU,US}', '{en}', '\\x00'), "
    "('" RELOADED "', 'movie', 'The Matrix Reloaded', NULL, 'en', 'Six months after the events depicted in The Matrix, Neo has proved "
    "to be a good omen for the free humans, as more and more humans are being freed from the matrix.', NULL, '2003-05-15', 2003, "
    "138, 'Released', NULL, 70.78591, 6.7, 3443, '{}', '{US}', '{en}', '\\x00'), "
    "('" ROOMS "', 'movie', 'Four Rooms', 'Four Rooms', 'en', 'It''s Ted the Bellhop''s first night on the job, and the hotel''s very "
    "unusual guests are about to place him in some outrageous predicaments.', NULL, '1995-12-09', 1995, 98, 'Released', NULL, "
    "22.87623, 6.5, 530, '{hotel}', '{US}', '{en}', '\\x00'), "
    "('" REVOLUTIONS "', 'movie', 'The Matrix Revolutions', NULL, 'en', 'The human city of Zion defends itself against the massive "
    "invasion of the machines as Neo fights to end the war at another front while also opposing the rogue Agent Smith.', NULL, "
    "'2003-11-05', 2003, 129, 'Released', NULL, 73.313918, 6.4, 3096, '{}', '{US}', '{en}', '\\x00'), "
    "('" STAR_WARS "', 'movie', 'Star Wars', NULL, 'en', 'Princess Leia is captured and held hostage by the evil Imperial forces "
    "in their effort to take over the galactic Empire.', NULL, '1977-05-25', 1977, 121, 'Released', NULL, 126.393695, 8.1, 6624, "
    "'{}', '{US}', '{en}', '\\x00'), "
    "('" NEMO "', 'movie', 'Finding Nemo', NULL, 'en', 'Nemo, an adventurous young clownfish, is unexpectedly taken from his "
    "Great Barrier Reef home to a dentist''s office aquarium.', NULL, '2003-05-30', 2003, 100, 'Released', NULL, 85.688789, 7.6, "
    "6122, '{}', '{AU}', '{en}', '\\x00')",
    "INSERT INTO content_genres (content_id, genre_id) SELECT x.id::uuid, g.id FROM (VALUES "
    "('" MATRIX "', 'action'), ('" MATRIX "', 'science-fiction'), ('" RELOADED "', 'action'), "
    "('" RELOADED "', 'science-fiction'), ('" RELOADED "', 'thriller'), ('" ROOMS "', 'crime'), ('" ROOMS "', 'comedy'), ('" REVOLUTIONS "', 'science-fiction'), "
    "('" STAR_WARS "', 'science-fiction'), ('" STAR_WARS "', 'adventure'), ('" NEMO "', 'animation'), ('" NEMO "', 'family')) "
    "x (id, slug) JOIN genres g ON g.slug = x.slug",
    "INSERT INTO external_ids (content_id, source, value) VALUES ('" MATRIX "', 'tmdb', '603'), "
    "('" MATRIX "', 'imdb', 'tt0133093'), ('" RELOADED "', 'tmdb', '604'), ('" ROOMS "', 'tmdb', '5')",
    "INSERT INTO credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department) VALUES "
    "('" MATRIX "', 'cast', 0, 'Keanu Reeves', 6384, 'Thomas \"Neo\" Anderson', NULL, NULL), "
    "('" MATRIX "', 'cast', 1, 'Laurence Fishburne', 2975, 'Morpheus', NULL, NULL), "
    "('" MATRIX "', 'crew', 0, 'Lana Wachowski', 9340, NULL, 'Director', 'Directing')",
    "UPDATE people SET id = '" KEANU "' WHERE tmdb_id = 6384",
    "INSERT INTO videos (content_id, site, key, type, name, official) VALUES "
    "('" MATRIX "', 'youtube', 'vKQi3bBA1y8', 'trailer', 'The Matrix trailer', true)",
    "INSERT INTO availability (content_id, platform, region, type, quality, price, currency, deep_link, source) VALUES "
    "('" MATRIX "', 'disney-plus', 'AU', 'subscription', 'hd', NULL, NULL, 'https://www.disneyplus.com/movies/di603', 'tmdb'), "
    "('" MATRIX "', 'apple-tv', 'US', 'rent', 'uhd', 3.99, 'USD', NULL, 'tmdb')",
};

static int group_teardown (void **state);

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    f->admin = mg_test_scratch_db ("mg_openapi", f->url, sizeof f->url);
    if (!f->admin || mg_test_load_db (f->url, s_fixtures, sizeof s_fixtures / sizeof s_fixtures [0]))
        return -1;
    snprintf (f->model, sizeof f->model, "/tmp/mg_openapi_%d.model", (int) getpid ());
    snprintf (f->records, sizeof f->records, "/tmp/mg_openapi_%d.jsonl", (int) getpid ());
    snprintf (f->served, sizeof f->served, "/tmp/mg_openapi_%d.json", (int) getpid ());
    f->out = fopen (f->records, "w");
    if (!f->out)
        return -1;
    mg_test_env_init (&f->env, f->url);
    f->http_port = mg_test_free_port ();
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_EMBED_MODEL=%s", f->model);
    mg_test_env_add (&f->env, "MG_RATE_ANONYMOUS=1000000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RATE_FREE=1000000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RESOLVER_INGEST=0");
    //  The webhook routes are called with a local target (test-only switches).
    mg_test_env_add (&f->env, "MG_ALERTS_ALLOW_HTTP=1");
    mg_test_env_add (&f->env, "MG_ALERTS_ALLOW_PRIVATE=1");
    //  Argon2id at 16 MiB keeps the test quick under ASan; production uses 64 MiB.
    mg_test_env_add (&f->env, "MG_PWHASH_MEMLIMIT_KIB=16384");
    if (!mg_test_run ("mg-embed-train", f->env.envp, (char *[]) { "--dims", "2", NULL })) {
        fprintf (stderr, "mg-embed-train failed\n");
        return -1;
    }
    if (mg_test_stack_start (&f->broker, f->actors, s_routed, ROUTED, f->env.envp, f->http_port, START_WAIT_MS) == 0)
        return 0;
    fprintf (stderr, "the gateway did not become ready\n");
    group_teardown (state);
    *state = NULL;
    return -1;
}

static int
group_teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    mg_test_stack_stop (&f->broker, f->actors, ROUTED);
    if (f->out)
        fclose (f->out);
    if (*f->model)
        remove (f->model);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  Write one answer to the records file.
static void
s_record (fixture_t *f, const char *method, const char *path, int status, const char *content_type,
          const char *body, size_t len)
{
    json_t *line = json_pack ("{s:s,s:s,s:i,s:s,s:s%}", "method", method, "path", path, "status", status,
                              "content_type", content_type, "body", body ? body : "", body ? len : 0);
    assert_non_null (line);
    char *text = json_dumps (line, JSON_COMPACT);
    assert_non_null (text);
    assert_true (fprintf (f->out, "%s\n", text) > 0);
    free (text);
    json_decref (line);
}

//  Send method path (headers: extra lines; body: JSON or NULL), assert the
//  status, record the answer. Returns the body as JSON when it is JSON
//  (caller decrefs), else NULL. etag (may be NULL, 64 bytes) gets the ETag.
static json_t *
s_call (fixture_t *f, const char *method, const char *path, const char *headers, const char *body,
        int status, char *etag)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (f->http_port, method, path, headers, body, &reply, HTTP_WAIT_MS), 0);
    if (reply.status != status)
        fail_msg ("%s %s: %d, expected %d: %s", method, path, reply.status, status, reply.body);
    char type [128] = "";
    mg_http_header (&reply, "Content-Type", type, sizeof type);
    if (etag && !mg_http_header (&reply, "ETag", etag, 64))
        fail_msg ("%s %s: no ETag", method, path);
    s_record (f, method, path, reply.status, type, reply.body, reply.body_len);
    json_t *json = strncmp (type, "application/json", 16) == 0 ? json_loadb (reply.body, reply.body_len, 0, NULL) : NULL;
    mg_http_reply_free (&reply);
    return json;
}

//  s_call for an answer whose body is not needed.
static void
s_check (fixture_t *f, const char *method, const char *path, const char *headers, const char *body, int status)
{
    json_decref (s_call (f, method, path, headers, body, status, NULL));
}

//  Text of field key of json into out (size bytes); fails the test when absent.
static void
s_text (json_t *json, const char *key, char *out, size_t size)
{
    const char *value = json_string_value (json_object_get (json, key));
    if (!value)
        fail_msg ("no %s in the answer", key);
    snprintf (out, size, "%s", value);
}

//  Ops, this document, the public catalog and search routes.
static void
s_public_routes (fixture_t *f)
{
    s_check (f, "GET", "/health", "", NULL, 200);
    s_check (f, "GET", "/ready", "", NULL, 200);
    s_check (f, "GET", "/metrics", "", NULL, 200);
    s_check (f, "GET", "/api/v1/openapi.yaml", "", NULL, 200);
    char etag [64], headers [256];
    json_t *doc = s_call (f, "GET", "/api/v1/openapi.json", "", NULL, 200, etag);
    assert_non_null (doc);
    //  The gateway serves what mg-openapi generated at build time.
    json_t *generated = json_load_file (GENERATED_JSON, 0, NULL);
    assert_non_null (generated);
    assert_true (json_equal (doc, generated));
    json_decref (generated);
    assert_int_equal (json_dump_file (doc, f->served, JSON_INDENT (1)), 0);
    json_decref (doc);
    snprintf (headers, sizeof headers, "If-None-Match: %s\r\n", etag);
    s_check (f, "GET", "/api/v1/openapi.json", headers, NULL, 304);

    s_check (f, "GET", "/api/v1/genres", "", NULL, 200);
    json_decref (s_call (f, "GET", "/api/v1/content/" MATRIX, "", NULL, 200, etag));
    snprintf (headers, sizeof headers, "If-None-Match: %s\r\n", etag);
    s_check (f, "GET", "/api/v1/content/" MATRIX, headers, NULL, 304);
    s_check (f, "GET", "/api/v1/content/" UNKNOWN, "", NULL, 404);
    s_check (f, "GET", "/api/v1/content/" MATRIX "/availability", "", NULL, 200);
    s_check (f, "GET", "/api/v1/people/" KEANU, "", NULL, 200);
    s_check (f, "GET", "/api/v1/people/" KEANU "?per_page=1&page=1", "", NULL, 200);
    s_check (f, "GET", "/api/v1/people/" UNKNOWN, "", NULL, 404);
    s_check (f, "GET", "/api/v1/people/not-a-uuid", "", NULL, 400);
    s_check (f, "GET", "/api/v1/content/" MATRIX "/availability?region=us", "", NULL, 200);
    s_check (f, "GET", "/api/v1/trending", "", NULL, 200);
    s_check (f, "GET", "/api/v1/trending?type=movie&window=week&per_page=2&page=2", "", NULL, 200);
    s_check (f, "GET", "/api/v1/trending?per_page=many", "", NULL, 400);
    s_check (f, "GET", "/api/v1/discover?genres=science-fiction,crime&sort=rating&year_from=1990", "", NULL, 200);
    s_check (f, "GET", "/api/v1/platforms?region=us", "", NULL, 200);
    s_check (f, "GET", "/api/v1/leaving?region=US&within_days=30", "", NULL, 200);
    s_check (f, "GET", "/api/v1/leaving?available=mine", "", NULL, 401);
    s_check (f, "GET", "/api/v1/search?q=matrix", "", NULL, 200);
    s_check (f, "GET", "/api/v1/search?q=matrix&explain=true&mode=keyword&region=US", "", NULL, 200);
    s_check (f, "GET", "/api/v1/search?q=matrix&colour=red", "", NULL, 400);
    s_check (f, "GET", "/api/v1/search/autocomplete?q=mat", "", NULL, 200);
    s_check (f, "GET", "/api/v1/search/autocomplete?q=keanu", "", NULL, 200);
    s_check (f, "GET", "/api/v1/search?q=keanu%20reeves&type=person&explain=true", "", NULL, 200);
    s_check (f, "GET", "/api/v1/search?q=keanu%20reeves&explain=true", "", NULL, 200);
    s_check (f, "GET", "/api/v1/content/" MATRIX "/similar?per_page=2", "", NULL, 200);
    s_check (f, "POST", "/api/v1/resolve", "",
             "{\"records\":[{\"title\":\"The Matrix\",\"year\":1999},{\"title\":\"Nothing Like It At All\",\"year\":1901},"
             "{\"title\":42}]}", 200);
    s_check (f, "GET", "/api/v1/search", "Authorization: Bearer not-a-token\r\n", NULL, 401);

    //  /mcp: initialize (a client that takes JSON only), then end the session twice.
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (f->http_port, "POST", "/mcp", "Accept: application/json\r\n",
                                       "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                                       "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"e2e\",\"version\":\"1\"}}}",
                                       &reply, HTTP_WAIT_MS), 0);
    assert_int_equal (reply.status, 200);
    char session [64] = "", type [128] = "";
    assert_true (mg_http_header (&reply, "Mcp-Session-Id", session, sizeof session));
    mg_http_header (&reply, "Content-Type", type, sizeof type);
    s_record (f, "POST", "/mcp", reply.status, type, reply.body, reply.body_len);
    mg_http_reply_free (&reply);
    snprintf (headers, sizeof headers, "Mcp-Session-Id: %s\r\n", session);
    s_check (f, "DELETE", "/mcp", headers, NULL, 204);
    s_check (f, "DELETE", "/mcp", headers, NULL, 404);
}

//  A body of another media type: 415.
static void
s_wrong_media_type (fixture_t *f)
{
    char request [512];
    int n = snprintf (request, sizeof request,
                      "POST /api/v1/resolve HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}");
    mg_http_reply_t reply;
    assert_int_equal (mg_http_exchange (f->http_port, request, (size_t) n, &reply, HTTP_WAIT_MS), 0);
    assert_int_equal (reply.status, 415);
    char type [128] = "";
    mg_http_header (&reply, "Content-Type", type, sizeof type);
    s_record (f, "POST", "/api/v1/resolve", reply.status, type, reply.body, reply.body_len);
    mg_http_reply_free (&reply);
}

//  Accounts, the caller's own state, sync and its event stream.
static void
s_user_routes (fixture_t *f)
{
    char email [96], body [512], bearer [2300], key_header [160], refresh [160], key_id [64];
    snprintf (email, sizeof email, "ada-%d@example.com", (int) getpid ());
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"correct horse battery\"}", email);
    s_check (f, "POST", "/api/v1/auth/register", "", body, 201);
    json_t *tokens = s_call (f, "POST", "/api/v1/auth/login", "", body, 200, NULL);
    s_text (tokens, "refresh_token", refresh, sizeof refresh);
    json_decref (tokens);
    snprintf (body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    tokens = s_call (f, "POST", "/api/v1/auth/refresh", "", body, 200, NULL);
    char access [2048];
    s_text (tokens, "access_token", access, sizeof access);
    json_decref (tokens);
    snprintf (bearer, sizeof bearer, "Authorization: Bearer %s\r\n", access);
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"wrong horse battery\"}", email);
    s_check (f, "POST", "/api/v1/auth/login", "", body, 401);

    json_t *key = s_call (f, "POST", "/api/v1/auth/api-keys", bearer, "{\"name\":\"e2e\"}", 201, NULL);
    char secret [96];
    s_text (key, "key", secret, sizeof secret);
    s_text (key, "id", key_id, sizeof key_id);
    json_decref (key);
    snprintf (key_header, sizeof key_header, "X-API-Key: %s\r\n", secret);
    s_check (f, "GET", "/api/v1/auth/api-keys", bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/auth/api-keys", key_header, NULL, 403);

    s_check (f, "GET", "/api/v1/me/watchlist", "", NULL, 401);
    char phone [64], tv [64], with_device [2400], path [256];
    json_t *device = s_call (f, "POST", "/api/v1/me/devices", bearer, "{\"name\":\"phone\"}", 201, NULL);
    s_text (device, "id", phone, sizeof phone);
    json_decref (device);
    device = s_call (f, "POST", "/api/v1/me/devices", key_header, "{\"name\":\"Living room TV\"}", 201, NULL);
    s_text (device, "id", tv, sizeof tv);
    json_decref (device);
    s_check (f, "GET", "/api/v1/me/devices", key_header, NULL, 200);
    s_check (f, "POST", "/api/v1/me/devices", bearer, "{\"name\":", 400);
    snprintf (with_device, sizeof with_device, "%sX-Device-Id: %s\r\n", bearer, phone);
    s_check (f, "PUT", "/api/v1/me/watchlist/" MATRIX, with_device, NULL, 200);
    s_check (f, "PUT", "/api/v1/me/watchlist/" ROOMS, bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/me/watchlist", bearer, NULL, 200);
    s_check (f, "DELETE", "/api/v1/me/watchlist/" ROOMS, with_device, NULL, 200);
    s_check (f, "PUT", "/api/v1/me/progress/" MATRIX, with_device,
             "{\"position_s\":1830.5,\"duration_s\":8160,\"completed\":false}", 200);
    s_check (f, "GET", "/api/v1/me/progress/" MATRIX, bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/me/progress", bearer, NULL, 200);
    s_check (f, "PUT", "/api/v1/me/preferences", bearer,
             "{\"language\":\"en\",\"region\":\"US\",\"autoplay\":true,\"genres\":[\"science-fiction\"]}", 200);
    s_check (f, "GET", "/api/v1/me/preferences", bearer, NULL, 200);
    s_check (f, "PUT", "/api/v1/me/preferences", bearer, "{\"services\":[\"apple-tv\",\"netflix\"]}", 200);
    s_check (f, "GET", "/api/v1/discover?available=mine", bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/search?q=matrix&available=mine", bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/me/watchlist?available=mine", bearer, NULL, 200);
    //  A Trakt list (application/json) imported; its job read back.
    json_t *job = s_call (f, "POST", "/api/v1/me/import", bearer,
                          "[{\"movie\":{\"title\":\"The Matrix\",\"year\":1999}},"
                          "{\"movie\":{\"title\":\"Nowhere At All\",\"year\":1999}}]", 200, NULL);
    char job_id [64];
    s_text (job, "id", job_id, sizeof job_id);
    json_decref (job);
    snprintf (path, sizeof path, "/api/v1/me/imports/%s", job_id);
    s_check (f, "GET", path, bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/me/imports/" UNKNOWN, bearer, NULL, 404);
    snprintf (body, sizeof body, "{\"device_id\":\"%s\",\"ops\":[{\"op_id\":\"00000000-0000-4000-8000-0000000006a1\","
              "\"type\":\"watchlist.add\",\"content_id\":\"" RELOADED "\"}]}", phone);
    s_check (f, "POST", "/api/v1/sync/ops", bearer, body, 200);
    snprintf (body, sizeof body, "{\"from_device\":\"%s\",\"to_device\":\"%s\",\"content_id\":\"" MATRIX "\","
              "\"position_s\":1900}", phone, tv);
    s_check (f, "POST", "/api/v1/sync/handoff", bearer, body, 202);

    //  The stream: its head (the body never ends on its own).
    snprintf (with_device, sizeof with_device, "%sX-Device-Id: %s\r\n", bearer, tv);
    mg_http_reply_t reply;
    mg_sse_t *stream = mg_sse_open (f->http_port, "/api/v1/sync/stream", with_device, &reply, HTTP_WAIT_MS);
    if (!stream)
        fail_msg ("GET /api/v1/sync/stream: %d %s", reply.status, reply.body ? reply.body : "");
    char type [128] = "";
    mg_http_header (&reply, "Content-Type", type, sizeof type);
    s_record (f, "GET", "/api/v1/sync/stream", reply.status, type, "", 0);
    mg_sse_close (&stream);

    //  Notifications and webhooks. The webhook points at a closed local
    //  port (the stack admits loopback): a call fails at once, harmlessly.
    s_check (f, "GET", "/api/v1/me/notifications?unread=true", bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/me/notifications?per_page=0", bearer, NULL, 400);
    s_check (f, "POST", "/api/v1/me/notifications/read", bearer, "{}", 200);
    s_check (f, "POST", "/api/v1/me/webhooks", bearer, "{\"url\":\"ftp://127.0.0.1/hook\"}", 400);
    json_t *hook = s_call (f, "POST", "/api/v1/me/webhooks", bearer, "{\"url\":\"http://127.0.0.1:9/hook\"}", 201, NULL);
    char hook_id [64];
    s_text (hook, "id", hook_id, sizeof hook_id);
    json_decref (hook);
    s_check (f, "GET", "/api/v1/me/webhooks", bearer, NULL, 200);
    //  A dead letter to list and replay, as the delivery loop leaves one.
    PGconn *pg = PQconnectdb (f->url);
    const char *params [] = { hook_id };
    PGresult *res = PQexecParams (pg,
        "WITH n AS (INSERT INTO notifications (user_id, kind, content_id, platform, region, data) "
        "  SELECT user_id, 'available', '" MATRIX "', 'netflix', 'US', '{\"title\":\"The Matrix\"}' "
        "  FROM webhooks WHERE id = $1::uuid RETURNING id) "
        "INSERT INTO webhook_deliveries (webhook_id, notification_id, state, attempts, give_up_at, last_status, last_error) "
        "SELECT $1::uuid, n.id, 'dead', 12, now (), 503, 'the webhook answered 503' FROM n RETURNING id",
        1, NULL, params, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    char delivery [64];
    snprintf (delivery, sizeof delivery, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    PQfinish (pg);
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries?state=dead", hook_id);
    s_check (f, "GET", path, bearer, NULL, 200);
    s_check (f, "GET", "/api/v1/me/notifications", bearer, NULL, 200);
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries/" UNKNOWN "/replay", hook_id);
    s_check (f, "POST", path, bearer, NULL, 404);
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s/deliveries/%s/replay", hook_id, delivery);
    s_check (f, "POST", path, bearer, NULL, 202);
    s_check (f, "POST", path, bearer, NULL, 409);
    snprintf (path, sizeof path, "/api/v1/me/webhooks/%s", hook_id);
    s_check (f, "DELETE", path, bearer, NULL, 204);

    snprintf (path, sizeof path, "/api/v1/me/devices/%s", tv);
    s_check (f, "DELETE", path, bearer, NULL, 204);
    s_check (f, "DELETE", path, bearer, NULL, 404);
    snprintf (path, sizeof path, "/api/v1/auth/api-keys/%s", key_id);
    s_check (f, "DELETE", path, bearer, NULL, 204);
}

static void
test_every_route_answers_as_the_document_says (void **state)
{
    fixture_t *f = *state;
    s_public_routes (f);
    s_wrong_media_type (f);
    s_user_routes (f);
    assert_int_equal (fclose (f->out), 0);
    f->out = NULL;
    char command [1024];
    snprintf (command, sizeof command, "node '%s/validate-responses.mjs' '%s' '%s'", NODE_DIR, f->served, f->records);
    int status = system (command);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("the answers do not fit the document (records kept in %s)", f->records);
    remove (f->records);
    remove (f->served);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_every_route_answers_as_the_document_says),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
