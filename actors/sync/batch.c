/*  Reading a POST /api/v1/sync/ops body (sync_batch_read, sync.h): the
    document's shape and its device, before any op is looked at; and the
    typing of preference ops (sync_op_check_preference).  */
#include "sync.h"
#include "mg_filters.h"
#include "mg_platforms.h"

#include <stdio.h>
#include <string.h>

int
sync_batch_read (const char *body, const char *header_device, json_t **ops_out, char device [37], mg_error_t *err)
{
    *ops_out = NULL;
    device [0] = '\0';
    json_error_t jerr;
    json_t *doc = json_loads (body, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object (doc)) {
        json_decref (doc);
        return mg_actor_fail (err, "INVALID_JSON", NULL, "the body must be {\"device_id\":..., \"ops\":[...]}");
    }
    json_t *ops = json_object_get (doc, "ops");
    //  Too many ops is refused before anything else is looked at.
    if (json_array_size (ops) > SYNC_BATCH_MAX) {
        json_decref (doc);
        return mg_actor_fail (err, "PAYLOAD_TOO_LARGE", "ops", "at most %d ops per batch", SYNC_BATCH_MAX);
    }
    const json_t *named = json_object_get (doc, "device_id");
    if (!json_is_array (ops) || (named && !json_is_string (named))) {
        json_decref (doc);
        return mg_actor_fail (err, "INVALID_PARAMETER", "ops",
                              "the body must be {\"device_id\":\"<device id>\", \"ops\":[...]}");
    }
    char from_body [37] = "", from_header [37] = "";
    if ((named && mg_filters_uuid (json_string_value (named), from_body, "device_id", err))
    ||  (header_device && mg_filters_uuid (header_device, from_header, "X-Device-Id", err))) {
        json_decref (doc);
        return -1;
    }
    //  One batch, one device: the header and the body must not disagree.
    if (*from_body && *from_header && strcmp (from_body, from_header) != 0) {
        json_decref (doc);
        return mg_actor_fail (err, "INVALID_PARAMETER", "device_id",
                              "device_id and X-Device-Id name different devices");
    }
    snprintf (device, 37, "%s", *from_header ? from_header : from_body);
    *ops_out = json_incref (ops);
    json_decref (doc);
    return 0;
}

int
sync_op_check_preference (const sync_op_t *op, char *reason, size_t reasonlen)
{
    if (op->type != SYNC_PREFERENCES_SET)
        return 0;
    //  Preferences are typed: the field must be one of sync.preferences'.
    json_t *one = json_pack ("{s:O}", op->field, op->value);
    mg_sync_preferences_t typed;
    char why [MG_MSG_ERR_LEN] = "out of memory";
    if (!one || mg_msg_from_json (&mg_sync_preferences_desc, one, &typed, why, sizeof why)) {
        json_decref (one);
        snprintf (reason, reasonlen, "preference %s", why);
        return -1;
    }
    json_decref (one);
    bool region_bad = typed.region && !(strlen (typed.region) == 2
                                        && strspn (typed.region, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 2);
    //  Services are canonical platform slugs, so filters and alerts can trust them.
    const char *unknown = NULL;
    for (size_t i = 0; !unknown && i < typed.services_count; i++)
        if (!mg_platforms_find (typed.services [i]))
            unknown = typed.services [i];
    int rc = 0;
    if (region_bad) {
        snprintf (reason, reasonlen, "region must be an ISO 3166-1 alpha-2 code (e.g. US)");
        rc = -1;
    }
    else
    if (unknown) {
        snprintf (reason, reasonlen, "services: unknown platform '%.64s' (GET /api/v1/platforms lists the slugs)",
                  unknown);
        rc = -1;
    }
    mg_msg_clear (&mg_sync_preferences_desc, &typed);
    return rc;
}
