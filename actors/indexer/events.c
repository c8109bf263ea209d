/*  Change events: msgpack on the internal topic, protobuf (events.proto)
    on "<topic>.pb" for external subscribers.  */
#include "indexer.h"
#include "events.pb-c.h"
#include "mg_log.h"

#include <stdlib.h>
#include <sys/time.h>

void
indexer_publish (indexer_t *self, const char *stream, uint64_t seq, const char *content_id, uint64_t version)
{
    if (!self->events)
        return;
    mg_change_event_t event = {
        .stream = (char *) stream, .seq = seq, .has_seq = true,
        .content_id = (char *) content_id, .kind = "upsert",
        .version = version, .has_version = version > 0
    };
    char reason [MG_MSG_ERR_LEN];
    if (mg_actor_publish (self->events, stream, &mg_change_event_desc, &event, reason, sizeof reason))
        mg_warn ("change event not published", "reason=\"%s\"", reason);

    struct timeval now;
    gettimeofday (&now, NULL);
    Mediagateway__Events__ChangeEvent pb = MEDIAGATEWAY__EVENTS__CHANGE_EVENT__INIT;
    pb.stream = (char *) stream;
    pb.seq = seq;
    pb.content_id = (char *) content_id;
    pb.kind = "upsert";
    pb.version = version;
    pb.emitted_at_ms = (int64_t) now.tv_sec * 1000 + now.tv_usec / 1000;
    size_t size = mediagateway__events__change_event__get_packed_size (&pb);
    uint8_t *packed = malloc (size ? size : 1);
    if (!packed)
        return;
    mediagateway__events__change_event__pack (&pb, packed);
    char topic [80];
    snprintf (topic, sizeof topic, "%s.pb", stream);
    if (mg_actor_publish_bytes (self->events, topic, packed, size, reason, sizeof reason))
        mg_warn ("change event not published", "topic=%s reason=\"%s\"", topic, reason);
    free (packed);
}
