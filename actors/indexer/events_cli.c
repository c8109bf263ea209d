/*  mg-events: an example subscriber that prints change events, one JSON
    object a line. By default it reads the internal msgpack topics; with
    --pb it reads the public protobuf topics (messages/events.proto), the
    way a subscriber in another language would.
        mg-events [--pb] [topic-prefix ...]   (default: content.changed availability.changed)
    The endpoint is MG_EVENTS (the broker's XPUB). Stops on SIGINT/SIGTERM.  */
#include "events.pb-c.h"
#include "mg_config.h"
#include "mg_curve.h"
#include "mg_msg.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

//  Print one msgpack event; returns 0 or -1 when it does not decode.
static int
s_print_msgpack (const char *topic, zframe_t *body)
{
    mg_change_event_t event;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_change_event_desc, zframe_data (body), zframe_size (body), &event, reason, sizeof reason)) {
        fprintf (stderr, "mg-events: %s: %s\n", topic, reason);
        return -1;
    }
    json_t *json = mg_msg_to_json (&mg_change_event_desc, &event);
    char *text = json ? json_dumps (json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf ("%s\n", text);
    free (text);
    json_decref (json);
    mg_msg_clear (&mg_change_event_desc, &event);
    return 0;
}

//  Print one protobuf event; returns 0 or -1 when it does not decode.
static int
s_print_protobuf (const char *topic, zframe_t *body)
{
    Mediagateway__Events__ChangeEvent *event =
        mediagateway__events__change_event__unpack (NULL, zframe_size (body), zframe_data (body));
    if (!event) {
        fprintf (stderr, "mg-events: %s: not a ChangeEvent\n", topic);
        return -1;
    }
    json_t *json = json_pack ("{s:s, s:I, s:s, s:s, s:I, s:I}", "stream", event->stream,
                              "seq", (json_int_t) event->seq, "content_id", event->content_id,
                              "kind", event->kind, "version", (json_int_t) event->version,
                              "emitted_at_ms", (json_int_t) event->emitted_at_ms);
    char *text = json ? json_dumps (json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf ("%s\n", text);
    free (text);
    json_decref (json);
    mediagateway__events__change_event__free_unpacked (event, NULL);
    return 0;
}

int
main (int argc, char **argv)
{
    bool protobuf = false;
    const char *topics [16];
    int ntopics = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv [i], "--pb"))
            protobuf = true;
        else
        if (!strcmp (argv [i], "--help") || argv [i][0] == '-') {
            fprintf (stderr, "usage: mg-events [--pb] [topic-prefix ...]\n");
            return strcmp (argv [i], "--help") ? 2 : 0;
        }
        else
        if (ntopics < 16)
            topics [ntopics++] = argv [i];
    }
    if (ntopics == 0) {
        topics [ntopics++] = "content.changed";
        topics [ntopics++] = "availability.changed";
    }
    zsys_init ();
    const char *endpoint = mg_config_str ("MG_EVENTS", "tcp://127.0.0.1:5557");
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub || mg_curve_client (sub) || zsock_connect (sub, "%s", endpoint)) {
        fprintf (stderr, "mg-events: cannot connect to %s\n", endpoint);
        zsock_destroy (&sub);
        return 1;
    }
    for (int i = 0; i < ntopics; i++) {
        char topic [256];
        snprintf (topic, sizeof topic, "%s", topics [i]);
        zsock_set_subscribe (sub, topic);
    }
    setvbuf (stdout, NULL, _IOLBF, 0);
    while (!zsys_interrupted) {
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            break;
        char *topic = zmsg_popstr (msg);
        zframe_t *body = zmsg_pop (msg);
        if (topic && body) {
            size_t len = strlen (topic);
            bool is_pb = len > 3 && !strcmp (topic + len - 3, ".pb");
            if (is_pb == protobuf)
                (protobuf ? s_print_protobuf : s_print_msgpack) (topic, body);
        }
        free (topic);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    zsock_destroy (&sub);
    return 0;
}
