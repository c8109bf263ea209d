/*  mg-alerts: availability alerts. A follower thread turns availability
    changes into notifications, a delivery thread calls webhooks, and the
    worker threads answer the /me/notifications and /me/webhooks routes.
    Any number of replicas: the cursor, the unique keys and the claimed
    deliveries are in PostgreSQL.  */
#include "alerts.h"
#include "mg_curve.h"
#include "mg_config.h"
#include "mg_log.h"
#include "mg_pg.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdlib.h>

static const mg_method_t s_methods [] = {
    { "alerts.notifications",   &mg_notifications_request_desc,      &mg_notifications_page_desc,       alerts_on_notifications },
    { "alerts.read",            &mg_notifications_read_request_desc, &mg_notifications_read_reply_desc, alerts_on_read },
    { "alerts.webhooks",        &mg_alerts_page_request_desc,        &mg_webhooks_page_desc,            alerts_on_webhooks },
    { "alerts.webhook.create",  &mg_webhook_create_request_desc,     &mg_webhook_desc,                  alerts_on_webhook_create },
    { "alerts.webhook.delete",  &mg_webhook_request_desc,            &mg_empty_desc,                    alerts_on_webhook_delete },
    { "alerts.deliveries",      &mg_deliveries_request_desc,         &mg_deliveries_page_desc,          alerts_on_deliveries },
    { "alerts.replay",          &mg_replay_request_desc,             &mg_delivery_desc,                 alerts_on_replay },
    { NULL, NULL, NULL, NULL }
};

static void *
s_thread_init (void *shared)
{
    alerts_thread_t *self = calloc (1, sizeof *self);
    if (self)
        self->shared = shared;
    return self;
}

static void
s_thread_fini (void *state)
{
    alerts_thread_t *self = state;
    PQfinish (self->pg);
    free (self);
}

int
main (void)
{
    mg_log_init ("alerts");
    //  The bus role is set before any thread opens a bus socket.
    mg_curve_set_role ("alerts");
    zsys_init ();
    if (sodium_init () < 0 || curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mg_error ("cannot initialise libsodium or libcurl", NULL);
        return EXIT_FAILURE;
    }
    static alerts_t self;
    self.pg_url = mg_config_str ("MG_PG_URL", "postgresql://postgres@127.0.0.1:55432/mediagateway");
    self.default_region = mg_config_str ("MG_DEFAULT_REGION", "US");
    self.leaving_days = (int) mg_config_int ("MG_ALERTS_LEAVING_DAYS", 7, 0, 90);
    self.poll_ms = (int) mg_config_int ("MG_ALERTS_POLL_MS", 1000, 10, 60000);
    self.shares = (int) mg_config_int ("MG_ALERTS_SHARES", 4, 1, SHARES_MAX);
    self.sweep_ms = (int) mg_config_int ("MG_ALERTS_SWEEP_MS", 3600000, 100, 86400000);
    self.delivery_timeout_ms = (int) mg_config_int ("MG_ALERTS_DELIVERY_TIMEOUT_MS", 10000, 100, 60000);
    self.retry_base_ms = (int) mg_config_int ("MG_ALERTS_RETRY_BASE_MS", 30000, 2, 3600000);
    self.retry_max_ms = (int) mg_config_int ("MG_ALERTS_RETRY_MAX_MS", 3600000, 2, 86400000);
    self.retry_for_s = (int) mg_config_int ("MG_ALERTS_RETRY_FOR_S", 86400, 1, 30 * 86400);
    self.disable_after = (int) mg_config_int ("MG_ALERTS_DISABLE_AFTER", 5, 1, 1000);
    self.events_keep = mg_config_int ("MG_SYNC_EVENTS_KEEP", 1000, 1, 1000000);
    self.allow_http = mg_config_int ("MG_ALERTS_ALLOW_HTTP", 0, 0, 1) == 1;
    self.allow_private = mg_config_int ("MG_ALERTS_ALLOW_PRIVATE", 0, 0, 1) == 1;
    if (self.allow_private)
        mg_warn ("webhooks may call private and loopback addresses (MG_ALERTS_ALLOW_PRIVATE=1: tests only)", NULL);
    if (mg_pg_prepare (self.pg_url))
        return EXIT_FAILURE;
    pthread_t follower, deliverer;
    if (pthread_mutex_init (&self.lock, NULL) || pthread_cond_init (&self.wake, NULL)
    ||  pthread_create (&follower, NULL, alerts_follow, &self)) {
        mg_error ("cannot start the follower", NULL);
        return EXIT_FAILURE;
    }
    if (pthread_create (&deliverer, NULL, alerts_deliver, &self)) {
        mg_error ("cannot start the delivery loop", NULL);
        self.stop = true;
        pthread_join (follower, NULL);
        return EXIT_FAILURE;
    }
    int rc = -1;
    mg_actor_t *actor = mg_actor_new ("alerts", s_methods);
    if (actor) {
        mg_actor_set_threads (actor, 0, s_thread_init, s_thread_fini, &self);
        rc = mg_actor_run (actor);
        mg_actor_destroy (&actor);
    }
    self.stop = true;
    alerts_wake (&self);
    pthread_join (follower, NULL);
    pthread_join (deliverer, NULL);
    pthread_cond_destroy (&self.wake);
    pthread_mutex_destroy (&self.lock);
    curl_global_cleanup ();
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
