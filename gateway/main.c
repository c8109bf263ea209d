/*  mg-gateway: the HTTP/1.1 API. Reads its configuration from the
    environment (config/default.env), serves until SIGTERM, exits 0.  */
#include "gw_server.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_jwt.h"
#include "mg_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (void)
{
    mg_log_init ("gateway");
    mg_curve_set_role ("gateway");
    gw_config_t config = {
        .addr = mg_config_str ("MG_HTTP_ADDR", "127.0.0.1"),
        .port = (int) mg_config_int ("MG_HTTP_PORT", 8080, 0, 65535),
        .threads = (int) mg_config_int ("MG_HTTP_THREADS", 2, 1, 256),
        .max_body = (size_t) mg_config_int ("MG_HTTP_MAX_BODY", 1048576, 0, 1 << 30),
        .max_in_flight = (size_t) mg_config_int ("MG_HTTP_MAX_IN_FLIGHT", 1024, 1, 1 << 20),
        .max_url = (size_t) mg_config_int ("MG_HTTP_MAX_URL", 8192, 64, 1 << 20),
        .max_headers = (size_t) mg_config_int ("MG_HTTP_MAX_HEADERS", 16384, 256, 1 << 24),
        .request_timeout_ms = (uint32_t) mg_config_int ("MG_REQUEST_TIMEOUT_MS", 5000, 1, 600000),
        .long_timeout_ms = (uint32_t) mg_config_int ("MG_REQUEST_LONG_TIMEOUT_MS", 10000, 1, 600000),
        .broker = mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"),
        .heartbeat_ms = (int) mg_config_int ("MG_HEARTBEAT_MS", 250, 10, 60000),
        .liveness = (int) mg_config_int ("MG_HEARTBEAT_LIVENESS", 3, 2, 100),
        .rate_enabled = mg_config_int ("MG_RATE_ENABLED", 1, 0, 1) == 1,
        .rate_fail_open = mg_config_int ("MG_RATE_FAIL_OPEN", 1, 0, 1) == 1,
        .rate_timeout_ms = (uint32_t) mg_config_int ("MG_RATE_TIMEOUT_MS", 250, 1, 60000),
        .rate_parallel_reads = mg_config_int ("MG_RATE_PARALLEL_READS", 1, 0, 1) == 1,
        .rate_lease = mg_config_int ("MG_RATE_LEASE", 1, 0, 1) == 1,
        .rate_gateways = (uint32_t) mg_config_int ("MG_RATE_GATEWAYS", 2, 1, 1000),
        .key_cache_s = (uint32_t) mg_config_int ("MG_KEY_CACHE_S", 30, 1, 3600),
        .events = mg_config_str ("MG_EVENTS", "tcp://127.0.0.1:5557"),
        .sse_heartbeat_s = (int) mg_config_int ("MG_SSE_HEARTBEAT_S", 15, 1, 3600),
        .sse_retry_ms = (uint32_t) mg_config_int ("MG_SSE_RETRY_MS", 2000, 0, 600000),
        .sse_max_buffer = (size_t) mg_config_int ("MG_SSE_MAX_BUFFER", 262144, 4096, 1 << 30),
        .sse_per_user = (int) mg_config_int ("MG_SSE_PER_USER", 20, 1, 100000),
        .sse_max_streams = (int) mg_config_int ("MG_SSE_MAX_STREAMS", 10000, 1, 10000000),
        .redis_url = mg_config_str ("MG_REDIS_URL", "redis://127.0.0.1:6379"),
        .cache_ttl_s = (uint32_t) mg_config_int ("MG_SEARCH_CACHE_TTL_S", 60, 0, 86400),
        .mine_cache_s = (uint32_t) mg_config_int ("MG_MINE_CACHE_S", 10, 0, 3600),
        .memo_ttl_s = (uint32_t) mg_config_int ("MG_REFERENCE_CACHE_S", 30, 0, 86400),
        .cache_timeout_ms = (uint32_t) mg_config_int ("MG_SEARCH_CACHE_TIMEOUT_MS", 50, 1, 60000),
        .details_ttl_s = (uint32_t) mg_config_int ("MG_DETAILS_CACHE_TTL_S", 300, 0, 86400),
        .mcp_session_ttl_s = (uint32_t) mg_config_int ("MG_MCP_SESSION_TTL_S", 3600, 1, 30 * 86400),
        .mcp_redis_timeout_ms = (uint32_t) mg_config_int ("MG_MCP_REDIS_TIMEOUT_MS", 100, 1, 60000),
    };
    const char *prefix = mg_config_str ("MG_SEARCH_CACHE_PREFIX", "search:");
    if (strlen (prefix) > GW_CACHE_PREFIX_MAX) {
        mg_error ("MG_SEARCH_CACHE_PREFIX is too long", "max=%d", GW_CACHE_PREFIX_MAX);
        return EXIT_FAILURE;
    }
    snprintf (config.cache_prefix, sizeof config.cache_prefix, "%s", prefix);
    prefix = mg_config_str ("MG_DETAILS_CACHE_PREFIX", "details:");
    if (strlen (prefix) > GW_CACHE_PREFIX_MAX) {
        mg_error ("MG_DETAILS_CACHE_PREFIX is too long", "max=%d", GW_CACHE_PREFIX_MAX);
        return EXIT_FAILURE;
    }
    snprintf (config.details_prefix, sizeof config.details_prefix, "%s", prefix);
    if (sodium_init () < 0) {
        mg_error ("cannot initialise libsodium", NULL);
        return EXIT_FAILURE;
    }
    snprintf (config.trusted_proxies, sizeof config.trusted_proxies, "%s",
              mg_config_str ("MG_TRUSTED_PROXIES", ""));
    const char *origins = mg_config_str ("MG_CORS_ORIGINS", "*");
    if (strlen (origins) >= sizeof config.cors_origins) {
        mg_error ("MG_CORS_ORIGINS is too long", "max=%zu", sizeof config.cors_origins - 1);
        return EXIT_FAILURE;
    }
    snprintf (config.cors_origins, sizeof config.cors_origins, "%s", origins);
    //  A gateway that would accept tokens anyone can sign must not serve.
    char reason [512];
    int loaded = mg_jwt_secret_load ("MG_JWT_SECRET", config.jwt.current, &config.jwt.current_len,
                                     reason, sizeof reason);
    if (loaded) {
        mg_error ("refusing to start: no usable JWT secret", "reason=\"%s\" fix=\"%s\"",
                  loaded > 0 ? "neither MG_JWT_SECRET nor MG_JWT_SECRET_FILE is set" : reason,
                  "run scripts/run (it makes var/jwt_secret), or mg-admin make-secret FILE and set MG_JWT_SECRET_FILE");
        return EXIT_FAILURE;
    }
    loaded = mg_jwt_secret_load ("MG_JWT_SECRET_PREVIOUS", config.jwt.previous, &config.jwt.previous_len,
                                 reason, sizeof reason);
    if (loaded < 0) {
        mg_error ("refusing to start: MG_JWT_SECRET_PREVIOUS is set but unusable", "reason=\"%s\"", reason);
        return EXIT_FAILURE;
    }
    if (loaded == 0)
        mg_info ("JWT secret rotation: tokens of the previous secret are still accepted", NULL);
    mg_jwt_fingerprint (config.jwt.current, config.jwt.current_len, config.jwt_fingerprint);
    config.fingerprint_cache_s = (uint32_t) mg_config_int ("MG_JWT_FINGERPRINT_CACHE_S", 5, 0, 3600);
    gw_server_t *server = gw_server_new (&config);
    if (!server)
        return EXIT_FAILURE;
    int rc = gw_server_run (server);
    gw_server_destroy (&server);
    sodium_memzero (&config.jwt, sizeof config.jwt);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
