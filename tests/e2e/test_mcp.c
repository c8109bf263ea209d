/*  /mcp end to end: a scratch catalog of six titles, every routed actor,
    two gateways sharing Redis, and tests/mcp/mcp-e2e.mjs driving them with
    the official MCP TypeScript SDK client: initialize, tools/list, every
    tool compared with the REST answer for the same input, resources,
    protocol errors (-32700, -32600, -32601, -32602, -32002), user tools
    called anonymously (UNAUTHORIZED), a session used on the other gateway,
    Origin, revision negotiation, and DELETE ending a session; then the
    generic server scenarios of @modelcontextprotocol/conformance.  */
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

#include "mg_pg.h"
#include "mg_test.h"
#include "mg_http.h"

#define START_WAIT_MS  30000        //  migrations, training and registration at start
#define HTTP_WAIT_MS   8000         //  argon2id under ASan on a loaded machine
#define NODE_DIR       MG_BIN_DIR "/../mcp-node"   //  tests/mcp/run.sh setup installs there
#define ORIGIN         "https://assistant.example"

#define ID(x) "00000000-0000-4000-8000-0000000007" x
#define MATRIX    ID ("03")
#define ROOMS     ID ("05")
#define NEMO      ID ("08")
#define RELOADED  ID ("04")
#define REVOLUTIONS ID ("06")
#define STAR_WARS ID ("07")

static const char *s_routed [] = {
    "mg-catalog", "mg-resolver", "mg-search", "mg-accounts", "mg-ratelimit", "mg-sync", "mg-alerts", "mg-gateway"
};
#define ROUTED (sizeof s_routed / sizeof s_routed [0])

typedef struct {
    char url [512];
    char model [256];
    mg_test_env_t env;
    PGconn *admin;
    int http_port;
    int second_port;
    pid_t broker;
    pid_t actors [ROUTED];
    pid_t second;                   //  another gateway on the same broker and Redis
} fixture_t;

//  Six titles as data/catalog.jsonl.gz has them (TMDB 603, 5, 12, 604, 605, 11; overviews cut).
static const char *s_fixtures [] = {
    "INSERT INTO content (id, type, title, original_title, original_language, overview, release_date, year, "
    "runtime_min, status, popularity, vote_average, vote_count, keywords, production_countries, spoken_languages, checksum) VALUES "
    "('" MATRIX "', 'movie', 'The Matrix', 'The Matrix', 'en', 'A computer hacker joins a group of underground insurgents "
    "fighting the vast and powerful computers who now rule the earth.', '1999-03-30', 1999, 136, 'Released', 104.309993, "
    "7.9, 8907, '{cyberpunk}', '{US}', '{en}', '\\x00'), "
    "('" ROOMS "', 'movie', 'Four Rooms', 'Four Rooms', 'en', 'It''s Ted the Bellhop''s first night on the job.', "
    "'1995-12-09', 1995, 98, 'Released', 22.87623, 6.5, 530, '{hotel}', '{US}', '{en}', '\\x00'), "
    "('" NEMO "', 'movie', 'Finding Nemo', NULL, 'en', 'Nemo, an adventurous young clownfish, is taken from his home.', "
    "'2003-05-30', 2003, 100, 'Released', 85.688789, 7.6, 6122, '{}', '{AU}', '{en}', '\\x00'), "
    "('" RELOADED "', 'movie', 'The Matrix Reloaded', NULL, 'en', 'Neo and the free humans fight the machines of the matrix.', "
    "'2003-05-15', 2003, 138, 'Released', 70.78591, 6.7, 3443, '{}', '{US}', '{en}', '\\x00'), "
    "('" REVOLUTIONS "', 'movie', 'The Matrix Revolutions', NULL, 'en', 'Zion defends itself against the machines as Neo "
    "fights to end the war.', '2003-11-05', 2003, 129, 'Released', 73.313918, 6.4, 3096, '{}', '{US}', '{en}', '\\x00'), "
    "('" STAR_WARS "', 'movie', 'Star Wars', NULL, 'en', 'Princess Leia is held hostage by the evil Imperial forces in their "
    "war against the rebels.', '1977-05-25', 1977, 121, 'Released', 126.393695, 8.1, 6624, '{}', '{US}', '{en}', '\\x00')",
    "INSERT INTO content_genres (content_id, genre_id) SELECT x.id::uuid, g.id FROM (VALUES "
    "('" MATRIX "', 'science-fiction'), ('" MATRIX "', 'action'), ('" ROOMS "', 'crime'), ('" ROOMS "', 'comedy'), "
    "('" NEMO "', 'animation')) x (id, slug) JOIN genres g ON g.slug = x.slug",
    "INSERT INTO external_ids (content_id, source, value) VALUES ('" MATRIX "', 'tmdb', '603'), ('" ROOMS "', 'tmdb', '5')",
    "INSERT INTO credits (content_id, role, ord, person_name, person_tmdb_id, character, job, department) VALUES "
    "('" MATRIX "', 'cast', 0, 'Keanu Reeves', 6384, 'Neo', NULL, NULL)",
    "INSERT INTO availability (content_id, platform, region, type, quality, price, currency, deep_link, source) VALUES "
    "('" MATRIX "', 'apple-tv', 'US', 'rent', 'uhd', 3.99, 'USD', NULL, 'tmdb')",
};

static int group_teardown (void **state);

static int
group_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    f->admin = mg_test_scratch_db ("mg_mcp", f->url, sizeof f->url);
    if (!f->admin || mg_test_load_db (f->url, s_fixtures, sizeof s_fixtures / sizeof s_fixtures [0]))
        return -1;
    snprintf (f->model, sizeof f->model, "/tmp/mg_mcp_%d.model", (int) getpid ());
    mg_test_env_init (&f->env, f->url);
    f->http_port = mg_test_free_port ();
    mg_test_env_add (&f->env, "MG_HTTP_PORT=%d", f->http_port);
    mg_test_env_add (&f->env, "MG_EMBED_MODEL=%s", f->model);
    mg_test_env_add (&f->env, "MG_RATE_ANONYMOUS=1000000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RATE_FREE=1000000/s,1000000/m");
    mg_test_env_add (&f->env, "MG_RESOLVER_INGEST=0");
    mg_test_env_add (&f->env, "MG_CORS_ORIGINS=" ORIGIN);
    //  Argon2id at 16 MiB keeps the test quick under ASan; production uses 64 MiB.
    mg_test_env_add (&f->env, "MG_PWHASH_MEMLIMIT_KIB=16384");
    if (!mg_test_run ("mg-embed-train", f->env.envp, (char *[]) { "--dims", "2", NULL })) {
        fprintf (stderr, "mg-embed-train failed\n");
        return -1;
    }
    if (mg_test_stack_start (&f->broker, f->actors, s_routed, ROUTED, f->env.envp, f->http_port, START_WAIT_MS)) {
        fprintf (stderr, "the gateway did not become ready\n");
        group_teardown (state);
        *state = NULL;
        return -1;
    }
    //  The second gateway: the same settings but its own port.
    f->second_port = mg_test_free_port ();
    char port [32];
    snprintf (port, sizeof port, "MG_HTTP_PORT=%d", f->second_port);
    const char *env [MG_TEST_ENV_MAX + 1];
    int n = 0;
    for (int i = 0; f->env.envp [i]; i++)
        env [n++] = strncmp (f->env.envp [i], "MG_HTTP_PORT=", 13) == 0 ? port : f->env.envp [i];
    env [n] = NULL;
    f->second = mg_test_spawn ("mg-gateway", env);
    if (f->second > 0 && mg_test_wait_ready (f->second_port, START_WAIT_MS) == 0)
        return 0;
    fprintf (stderr, "the second gateway did not become ready\n");
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
    if (f->second > 0)
        mg_test_stop (f->second, SIGTERM);
    mg_test_stack_stop (&f->broker, f->actors, ROUTED);
    if (*f->model)
        remove (f->model);
    mg_test_drop_db (&f->admin, f->url);
    free (f);
    return 0;
}

//  POST path with body; the answer's field key (a string) into out.
static void
s_post_text (fixture_t *f, const char *path, const char *body, int status, const char *key, char *out, size_t size)
{
    mg_http_reply_t reply;
    assert_int_equal (mg_http_request (f->http_port, "POST", path, "", body, &reply, HTTP_WAIT_MS), 0);
    if (reply.status != status)
        fail_msg ("POST %s: %d, expected %d: %s", path, reply.status, status, reply.body);
    json_t *json = json_loadb (reply.body, reply.body_len, 0, NULL);
    mg_http_reply_free (&reply);
    if (key) {
        const char *value = json_string_value (json_object_get (json, key));
        if (!value)
            fail_msg ("POST %s: no %s in the answer", path, key);
        snprintf (out, size, "%s", value);
    }
    json_decref (json);
}

static void
test_mcp_sdk_client_drives_every_tool_and_the_protocol_errors (void **state)
{
    fixture_t *f = *state;
    char email [96], body [256], token [2048];
    snprintf (email, sizeof email, "mcp-%d@example.com", (int) getpid ());
    snprintf (body, sizeof body, "{\"email\":\"%s\",\"password\":\"correct horse battery\"}", email);
    s_post_text (f, "/api/v1/auth/register", body, 201, NULL, NULL, 0);
    s_post_text (f, "/api/v1/auth/login", body, 200, "access_token", token, sizeof token);
    char command [4096];
    snprintf (command, sizeof command,
              "node '%s/mcp-e2e.mjs' http://127.0.0.1:%d http://127.0.0.1:%d '%s' " MATRIX " " ROOMS " " ORIGIN,
              NODE_DIR, f->http_port, f->second_port, token);
    int status = system (command);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("the MCP checks failed (output above)");
}

//  The scenarios of the MCP conformance suite that fit any server (the
//  others call the suite's own test tools, prompts or sampling).
static void
test_mcp_passes_the_generic_conformance_scenarios (void **state)
{
    fixture_t *f = *state;
    static const char *scenarios [] = { "server-initialize", "tools-list", "resources-list" };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios [0]; i++) {
        char command [1024];
        snprintf (command, sizeof command, "node '%s/node_modules/@modelcontextprotocol/conformance/dist/index.mjs' "
                  "server --url http://127.0.0.1:%d/mcp --scenario %s", NODE_DIR, f->http_port, scenarios [i]);
        int status = system (command);
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
            fail_msg ("conformance scenario %s failed (output above)", scenarios [i]);
    }
}

//  A gateway whose Redis is unreachable: /mcp answers 503 with Retry-After
//  (the session store is not the caller's fault), within the look-up bound.
static void
test_mcp_without_redis_is_503_with_retry_after (void **state)
{
    fixture_t *f = *state;
    int port = mg_test_free_port ();
    char http [32], redis [64];
    snprintf (http, sizeof http, "MG_HTTP_PORT=%d", port);
    snprintf (redis, sizeof redis, "MG_REDIS_URL=redis://127.0.0.1:%d", mg_test_free_port ());
    const char *env [MG_TEST_ENV_MAX + 2];
    int n = 0;
    for (int i = 0; f->env.envp [i]; i++)
        env [n++] = strncmp (f->env.envp [i], "MG_HTTP_PORT=", 13) == 0 ? http : f->env.envp [i];
    env [n++] = redis;
    env [n] = NULL;
    pid_t gateway = mg_test_spawn ("mg-gateway", env);
    assert_true (gateway > 0);
    assert_int_equal (mg_test_wait_ready (port, START_WAIT_MS), 0);
    mg_http_reply_t reply;
    int rc = mg_http_request (port, "POST", "/mcp", "Accept: application/json\r\n",
                              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                              "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"e2e\",\"version\":\"1\"}}}",
                              &reply, HTTP_WAIT_MS);
    mg_test_stop (gateway, SIGTERM);
    assert_int_equal (rc, 0);
    char retry [16] = "";
    int status = reply.status;
    bool has_retry = mg_http_header (&reply, "Retry-After", retry, sizeof retry);
    if (status != 503)
        fail_msg ("POST /mcp without Redis: %d %s", status, reply.body);
    mg_http_reply_free (&reply);
    assert_true (has_retry);
    assert_string_equal (retry, "1");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_mcp_sdk_client_drives_every_tool_and_the_protocol_errors),
        cmocka_unit_test (test_mcp_passes_the_generic_conformance_scenarios),
        cmocka_unit_test (test_mcp_without_redis_is_503_with_retry_after),
    };
    return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
