/*  MG1 frame helpers (docs/protocol.md).  */
#include "mg_frame.h"
#include "mg_msg.h"

#include <stdio.h>
#include <string.h>

static const char *s_cmd_text [] = {
    [MG_CMD_UNKNOWN] = "?",
    [MG_CMD_REQ] = "REQ",
    [MG_CMD_REP] = "REP",
    [MG_CMD_ERR] = "ERR",
    [MG_CMD_READY] = "READY",
    [MG_CMD_HB] = "HB",
    [MG_CMD_RESET] = "RESET",
    [MG_CMD_BYE] = "BYE",
    [MG_CMD_DECLINE] = "DECLINE"
};

const char *
mg_frame_cmd_text (mg_cmd_t cmd)
{
    return (cmd > MG_CMD_UNKNOWN && cmd <= MG_CMD_DECLINE) ? s_cmd_text [cmd] : s_cmd_text [0];
}

mg_cmd_t
mg_frame_cmd (zframe_t *frame)
{
    if (!frame)
        return MG_CMD_UNKNOWN;
    size_t size = zframe_size (frame);
    const char *data = (const char *) zframe_data (frame);
    for (int cmd = MG_CMD_REQ; cmd <= MG_CMD_DECLINE; cmd++)
        if (strlen (s_cmd_text [cmd]) == size && memcmp (s_cmd_text [cmd], data, size) == 0)
            return (mg_cmd_t) cmd;
    return MG_CMD_UNKNOWN;
}

bool
mg_frame_is_protocol (zframe_t *frame)
{
    return frame && zframe_size (frame) == 3 && memcmp (zframe_data (frame), MG_FRAME_PROTOCOL, 3) == 0;
}

bool
mg_frame_name_valid (const char *name, size_t len)
{
    if (!name || len == 0 || len > MG_NAME_MAX)
        return false;
    bool dot = false;
    for (size_t i = 0; i < len; i++) {
        char c = name [i];
        if (c == '.') {
            if (i == 0 || i == len - 1)
                return false;
            dot = true;
        }
        else
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return dot;
}

size_t
mg_frame_service_len (const char *name, size_t len)
{
    const char *dot = memchr (name, '.', len);
    return dot ? (size_t) (dot - name) : len;
}

int
mg_frame_uint (zframe_t *frame, uint32_t min, uint32_t max, uint32_t *value)
{
    if (!frame)
        return -1;
    size_t size = zframe_size (frame);
    const unsigned char *data = zframe_data (frame);
    if (size == 0 || size > 10)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) {
        if (data [i] < '0' || data [i] > '9')
            return -1;
        v = v * 10 + (data [i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *value = (uint32_t) v;
    return 0;
}

zmsg_t *
mg_frame_request (const char *name, const void *id, size_t id_len,
                  uint32_t ttl_ms, const void *body, size_t body_len)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg)
        return NULL;
    char ttl [16];
    snprintf (ttl, sizeof ttl, "%u", ttl_ms);
    if (zmsg_addstr (msg, MG_FRAME_PROTOCOL)
    ||  zmsg_addstr (msg, "REQ")
    ||  zmsg_addstr (msg, name)
    ||  zmsg_addmem (msg, id, id_len)
    ||  zmsg_addstr (msg, ttl)
    ||  zmsg_addmem (msg, body, body_len)) {
        zmsg_destroy (&msg);
        return NULL;
    }
    return msg;
}

zframe_t *
mg_frame_error_body (const char *code, const char *message, uint32_t retry_after)
{
    mg_error_t error = {
        .code = (char *) code,
        .message = (char *) message,
        .retry_after = retry_after,
        .has_retry_after = retry_after > 0
    };
    uint8_t *buf = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_encode (&mg_error_desc, &error, &buf, &len, reason, sizeof reason))
        return NULL;
    zframe_t *frame = zframe_new (buf, len);
    free (buf);
    return frame;
}
