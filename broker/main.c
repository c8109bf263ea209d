/*  mg-broker: request broker (ROUTER) and event proxy (XSUB/XPUB).  */
#include "broker.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_log.h"

#include <czmq.h>
#include <stdlib.h>

int
main (void)
{
    mg_log_init ("broker");
    //  A pair member reaches its peer as a CURVE client with the broker's own pair.
    mg_curve_set_role ("broker");
    zsys_init ();
    mg_broker_config_t config = {
        .bind = mg_config_str ("MG_BROKER_BIND", "tcp://127.0.0.1:5555"),
        .events_pub_bind = mg_config_str ("MG_EVENTS_PUB_BIND", "tcp://127.0.0.1:5556"),
        .events_sub_bind = mg_config_str ("MG_EVENTS_SUB_BIND", "tcp://127.0.0.1:5557"),
        .heartbeat_ms = (int) mg_config_int ("MG_HEARTBEAT_MS", 250, 10, 60000),
        .liveness = (int) mg_config_int ("MG_HEARTBEAT_LIVENESS", 3, 2, 100),
        .queue_max = (int) mg_config_int ("MG_BROKER_QUEUE_MAX", 1024, 1, 1000000),
        .stall_ms = (int) mg_config_int ("MG_BROKER_STALL_MS", 1000, 10, 600000),
        .pair_role = getenv ("MG_BROKER_PAIR") && *getenv ("MG_BROKER_PAIR") ? getenv ("MG_BROKER_PAIR") : NULL,
        .pair_bind = mg_config_str ("MG_BROKER_PAIR_BIND", NULL),
        .pair_peer = mg_config_str ("MG_BROKER_PAIR_PEER", NULL),
        .keys = mg_curve_dir (),
    };
    mg_broker_t *broker = mg_broker_new (&config);
    if (!broker)
        return EXIT_FAILURE;
    int rc = mg_broker_run (broker);
    mg_broker_destroy (&broker);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
