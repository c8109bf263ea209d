/*  mg-gateway: the HTTP/1.1 API. Reads its configuration from the
    environment (config/default.env), serves until SIGTERM, exits 0.  */
#include "gateway.h"
#include "mg_config.h"
#include "mg_log.h"

#include <stdlib.h>

int
main (void)
{
    mg_log_init ("gateway");
    gw_config_t config = {
        .addr = mg_config_str ("MG_HTTP_ADDR", "127.0.0.1"),
        .port = (int) mg_config_int ("MG_HTTP_PORT", 8080, 0, 65535),
        .threads = (int) mg_config_int ("MG_HTTP_THREADS", 2, 1, 256),
        .max_body = (size_t) mg_config_int ("MG_HTTP_MAX_BODY", 1048576, 0, 1 << 30),
        .max_url = (size_t) mg_config_int ("MG_HTTP_MAX_URL", 8192, 64, 1 << 20),
        .max_headers = (size_t) mg_config_int ("MG_HTTP_MAX_HEADERS", 16384, 256, 1 << 24),
        .request_timeout_ms = (uint32_t) mg_config_int ("MG_REQUEST_TIMEOUT_MS", 5000, 1, 600000),
        .broker = mg_config_str ("MG_BROKER", "tcp://127.0.0.1:5555"),
        .heartbeat_ms = (int) mg_config_int ("MG_HEARTBEAT_MS", 250, 10, 60000),
        .liveness = (int) mg_config_int ("MG_HEARTBEAT_LIVENESS", 3, 2, 100),
    };
    gw_server_t *server = gw_server_new (&config);
    if (!server)
        return EXIT_FAILURE;
    int rc = gw_server_run (server);
    gw_server_destroy (&server);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
